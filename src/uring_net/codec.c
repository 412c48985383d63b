/* SPDX-License-Identifier: MIT */
/*
 * codec.c - chunks on the wire, without I/O: the sender's encoder
 * (CHUNK_BEGIN, then blocks raw, LZ4 or shuffled + LZ4, chosen by the
 * connection's policy) and the receiver's decoder (header checked before
 * anything is allocated, each block checked and decoded straight into
 * the destination, the chunk verified at the end). conn.c puts these
 * frames on a socket; tests/fuzz/fuzz_net_chunk.c feeds the decoder
 * arbitrary frames.
 *
 * A raw block's frame carries no payload sum: its bytes are the chunk's,
 * which that final verification hashes anyway, so a per-frame sum was
 * a second XXH3 pass on each side. Compressed blocks keep theirs,
 * checked before LZ4 reads them.
 *
 * Blocks never span two buffers, so a block's bytes are of one kind:
 * validity bits, fixed-width values (int64, double, string offsets:
 * 8-byte elements, shuffled before LZ4 where it pays) or string bytes.
 *
 * The shuffle is our own: c-blosc does not export its shuffle, and its
 * compressor would put blosc's container (and its decoder, which we
 * would then have to trust with outside bytes) on the wire, where ours
 * is LZ4_decompress_safe and a transpose with fixed bounds. An 8x8 byte
 * transpose in registers does 8 elements per step; bench_net measures it
 * against LZ4 alone and against blosc's.
 */
#include <errno.h>
#include <lz4.h>
#include <string.h>
#include <xxhash.h>

#include "uring_net/net_impl.h"

enum { KIND_VALIDITY, KIND_VALUES, KIND_DATA };

_Static_assert(EAU2_NET_SCRATCH_BYTES >= LZ4_COMPRESSBOUND(EAU2_NET_BLOCK_MAX),
	       "scratch holds a compressed block");

/* ---------------------------------------------------------------- shuffle */

/* Transposes the 8x8 byte matrix whose rows are r0..r7 (byte j of row i
 * becomes byte i of row j) in three rounds of block swaps, in registers:
 * 2.5-3 GB/s on one core here, where a loop over an array of rows did
 * 0.5 (the compiler kept the array in memory). */
#define SWAP_BITS(a, b, s, m) do { \
	uint64_t t_ = (((a) >> (s)) ^ (b)) & (m); \
	(b) ^= t_; \
	(a) ^= t_ << (s); \
} while (0)
#define TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7) do { \
	SWAP_BITS(r0, r4, 32, 0x00000000ffffffffull); \
	SWAP_BITS(r1, r5, 32, 0x00000000ffffffffull); \
	SWAP_BITS(r2, r6, 32, 0x00000000ffffffffull); \
	SWAP_BITS(r3, r7, 32, 0x00000000ffffffffull); \
	SWAP_BITS(r0, r2, 16, 0x0000ffff0000ffffull); \
	SWAP_BITS(r1, r3, 16, 0x0000ffff0000ffffull); \
	SWAP_BITS(r4, r6, 16, 0x0000ffff0000ffffull); \
	SWAP_BITS(r5, r7, 16, 0x0000ffff0000ffffull); \
	SWAP_BITS(r0, r1, 8, 0x00ff00ff00ff00ffull); \
	SWAP_BITS(r2, r3, 8, 0x00ff00ff00ff00ffull); \
	SWAP_BITS(r4, r5, 8, 0x00ff00ff00ff00ffull); \
	SWAP_BITS(r6, r7, 8, 0x00ff00ff00ff00ffull); \
} while (0)

/* Groups byte j of every 8-byte element of in (len bytes) into stream j
 * of out: out[j * n + i] = in[i * 8 + j], n = len / 8; the len % 8 bytes
 * past the last element are copied as they are. */
static void shuffle8(uint8_t *restrict out, const uint8_t *restrict in, size_t len)
{
	size_t n = len / 8, i = 0;

	for (; i + 8 <= n; i += 8) {
		const uint8_t *p = in + i * 8;
		uint64_t r0 = net_get64(p), r1 = net_get64(p + 8), r2 = net_get64(p + 16),
			 r3 = net_get64(p + 24), r4 = net_get64(p + 32), r5 = net_get64(p + 40),
			 r6 = net_get64(p + 48), r7 = net_get64(p + 56);

		TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7);
		net_put64(out + i, r0);
		net_put64(out + n + i, r1);
		net_put64(out + 2 * n + i, r2);
		net_put64(out + 3 * n + i, r3);
		net_put64(out + 4 * n + i, r4);
		net_put64(out + 5 * n + i, r5);
		net_put64(out + 6 * n + i, r6);
		net_put64(out + 7 * n + i, r7);
	}
	for (; i < n; i++)
		for (size_t j = 0; j < 8; j++)
			out[j * n + i] = in[i * 8 + j];
	memcpy(out + n * 8, in + n * 8, len % 8);
}

static void unshuffle8(uint8_t *restrict out, const uint8_t *restrict in, size_t len)
{
	size_t n = len / 8, i = 0;

	for (; i + 8 <= n; i += 8) {
		uint8_t *p = out + i * 8;
		uint64_t r0 = net_get64(in + i), r1 = net_get64(in + n + i),
			 r2 = net_get64(in + 2 * n + i), r3 = net_get64(in + 3 * n + i),
			 r4 = net_get64(in + 4 * n + i), r5 = net_get64(in + 5 * n + i),
			 r6 = net_get64(in + 6 * n + i), r7 = net_get64(in + 7 * n + i);

		TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7);
		net_put64(p, r0);
		net_put64(p + 8, r1);
		net_put64(p + 16, r2);
		net_put64(p + 24, r3);
		net_put64(p + 32, r4);
		net_put64(p + 40, r5);
		net_put64(p + 48, r6);
		net_put64(p + 56, r7);
	}
	for (; i < n; i++)
		for (size_t j = 0; j < 8; j++)
			out[i * 8 + j] = in[j * n + i];
	memcpy(out + n * 8, in + n * 8, len % 8);
}

/* ---------------------------------------------------------------- sender */

void eau2_net_tx_init(struct eau2_net_tx *tx, enum eau2_net_policy policy,
		      struct eau2_net_stats *st)
{
	memset(tx, 0, sizeof(*tx));
	tx->policy = policy;
	tx->st = st;
}

int eau2_net_tx_begin(struct eau2_net_tx *tx, const void *chunk, uint64_t req,
		      uint64_t tag, uint8_t *scratch0, uint8_t *scratch1,
		      struct eau2_error *err)
{
	struct eau2_chunk_hdr h;
	int rc;

	memcpy(&h, chunk, sizeof(h));
	rc = eau2_chunk_hdr_check(&h, UINT64_MAX, err);
	if (rc)
		return rc;
	tx->chunk = chunk;
	tx->total = h.total_len;
	tx->pos = 0;
	tx->req = req;
	tx->tag = tag;
	tx->type = h.type;
	tx->stage = 0;
	tx->scratch[0] = scratch0;
	tx->scratch[1] = scratch1;
	return 0;
}

/* The buffer that the bytes at `pos` belong to: its kind, element size
 * and where the next buffer (or the chunk) begins. Padding travels with
 * the buffer it follows. */
static void region_at(const struct eau2_net_tx *tx, uint64_t pos, int *kind,
		      int *elem, uint64_t *end)
{
	const struct eau2_chunk_hdr *h = (const struct eau2_chunk_hdr *)(const void *)tx->chunk;
	uint64_t start[3] = { h->null_count ? h->validity_off : UINT64_MAX, h->values_off,
			      h->type == EAU2_STRING ? h->data_off : UINT64_MAX };
	uint64_t best = 0;

	*kind = KIND_VALIDITY;
	*end = tx->total;
	for (int k = 0; k < 3; k++) {
		if (start[k] <= pos && start[k] >= best) {
			best = start[k];
			*kind = k;
		}
		if (start[k] > pos && start[k] < *end)
			*end = start[k];
	}
	*elem = *kind == KIND_VALUES && h->type != EAU2_BOOL ? 8 : 1;
}

/* Which codec AUTO uses for the next block of class cls (fixed: 8-byte
 * elements, which may be shuffled), or RAW. link_rate is the link's rate
 * as TCP last measured it while we kept the pipe full (a rate measured
 * while we were the bottleneck, app-limited, says how fast we were, not
 * the link). Compressing pays when the codec, at the speed and ratio
 * this kind of buffer showed lately, moves more data than raw would:
 * min(speed, rate / ratio) > 1.1 rate. A codec not yet tried on this kind
 * is tried while the send queue is backed up (the link may be the limit).
 * With no rate known (not TCP), a backed-up queue alone decides. Between
 * LZ4 and shuffle + LZ4 it takes the one that moves more (shuffling helps
 * integers and offsets a lot and hurts doubles with repeated values:
 * bench_net). */
static int auto_codec(struct eau2_net_class *cls, int fixed, const struct eau2_net_link *link,
		      double link_rate)
{
	int best = EAU2_NET_RAW;
	double best_rate;

	if (!link)
		return EAU2_NET_RAW;
	if (link_rate <= 0 && (!link->backlog || link->app_limited))
		return EAU2_NET_RAW;
	if (cls->skip) {
		cls->skip--;
		return EAU2_NET_RAW;
	}
	if (link->backlog && fixed && cls->ratio[EAU2_NET_SHUF_LZ4] == 0)
		return EAU2_NET_SHUF_LZ4;
	if (link->backlog && cls->ratio[EAU2_NET_LZ4] == 0)
		return EAU2_NET_LZ4;
	best_rate = link_rate > 0 ? 1.1 * link_rate : 0;
	for (int c = EAU2_NET_LZ4; c <= (fixed ? EAU2_NET_SHUF_LZ4 : EAU2_NET_LZ4); c++) {
		double moves;

		if (cls->ratio[c] == 0 || cls->ratio[c] > 0.9f)
			continue;
		moves = link_rate > 0 ? link_rate / cls->ratio[c] : 1.0 / cls->ratio[c];
		if (link_rate > 0 && cls->speed[c] < moves)
			moves = cls->speed[c];
		if (moves > best_rate) {
			best_rate = moves;
			best = c;
		}
	}
	return best;
}

static void learn(struct eau2_net_class *cls, int c, uint32_t raw, size_t wire,
		  uint64_t ns)
{
	float ratio = (float)wire / (float)raw;
	float speed = ns ? (float)raw * 1e9f / (float)ns : 1e12f;

	cls->ratio[c] = cls->ratio[c] == 0 ? ratio : 0.75f * cls->ratio[c] + 0.25f * ratio;
	cls->speed[c] = cls->speed[c] == 0 ? speed : 0.75f * cls->speed[c] + 0.25f * speed;
	if (cls->ratio[EAU2_NET_LZ4] > 0.9f &&
	    (cls->ratio[EAU2_NET_SHUF_LZ4] == 0 || cls->ratio[EAU2_NET_SHUF_LZ4] > 0.9f) &&
	    ratio > 0.9f)
		cls->skip = 32; /* neither pays: try again 32 blocks later */
}

int eau2_net_tx_next(struct eau2_net_tx *tx, const struct eau2_net_link *link,
		     uint8_t hdr[EAU2_NET_HDR_SIZE], struct iovec iov[2], int *niov)
{
	struct eau2_net_frame f = { .req = tx->req };
	int kind, elem, codec = EAU2_NET_RAW, want;
	uint64_t end, t0;
	uint32_t raw;
	const uint8_t *src;
	struct eau2_net_class *cls;

	if (tx->stage == 0) {
		tx->stage = 1;
		tx->pos = sizeof(struct eau2_chunk_hdr);
		f.type = EAU2_NET_CHUNK_BEGIN;
		f.len = sizeof(struct eau2_chunk_hdr);
		f.aux[0] = tx->tag;
		iov[0] = (struct iovec){ (void *)(uintptr_t)tx->chunk, f.len };
		*niov = 1;
		goto out;
	}
	if (tx->pos >= tx->total)
		return 0;
	region_at(tx, tx->pos, &kind, &elem, &end);
	raw = (uint32_t)(end - tx->pos < EAU2_NET_BLOCK_MAX ? end - tx->pos : EAU2_NET_BLOCK_MAX);
	src = tx->chunk + tx->pos;
	cls = &tx->cls[tx->type][kind];
	want = elem > 1 ? EAU2_NET_SHUF_LZ4 : EAU2_NET_LZ4;
	switch (tx->policy) {
	case EAU2_NET_FORCE_NONE: want = EAU2_NET_RAW; break;
	case EAU2_NET_FORCE_LZ4: want = EAU2_NET_LZ4; break;
	case EAU2_NET_FORCE_SHUFFLE: break;
	case EAU2_NET_AUTO:
		if (link && link->rate > 0 && !link->app_limited)
			tx->link_rate = link->rate;
		want = auto_codec(cls, elem > 1, link, tx->link_rate);
		break;
	}
	iov[0] = (struct iovec){ (void *)(uintptr_t)src, raw };
	if (want != EAU2_NET_RAW && raw >= 256) {
		const char *in = (const char *)src;
		int n;

		t0 = net_cpu_ns();
		if (want == EAU2_NET_SHUF_LZ4) {
			shuffle8(tx->scratch[1], src, raw);
			in = (const char *)tx->scratch[1];
		}
		n = LZ4_compress_default(in, (char *)tx->scratch[0], (int)raw,
					 EAU2_NET_SCRATCH_BYTES);
		t0 = net_cpu_ns() - t0;
		tx->st->compress_ns += t0;
		learn(cls, want, raw, n > 0 ? (size_t)n : raw, t0);
		if (n > 0 && (uint32_t)n < raw) {
			codec = want;
			iov[0] = (struct iovec){ tx->scratch[0], (size_t)n };
		}
	}
	f.type = EAU2_NET_CHUNK_BLOCK;
	f.len = (uint32_t)iov[0].iov_len;
	f.aux[0] = tx->pos;
	f.aux[1] = raw | (uint64_t)codec << 32 |
		   (uint64_t)(codec == EAU2_NET_SHUF_LZ4 ? elem : 0) << 40;
	tx->st->sent[tx->type][codec].raw += raw;
	tx->st->sent[tx->type][codec].wire += f.len;
	tx->st->sent[tx->type][codec].blocks++;
	tx->pos += raw;
	*niov = 1;
out:
	/* A raw block goes with sum 0: its bytes are the chunk's own, which
	 * the receiver checks whole against the chunk's checksum. */
	if (f.type != EAU2_NET_CHUNK_BLOCK || codec != EAU2_NET_RAW) {
		t0 = net_cpu_ns();
		f.sum = eau2_net_payload_sum(iov, *niov);
		tx->st->checksum_ns += net_cpu_ns() - t0;
	}
	eau2_net_frame_encode(&f, hdr);
	return 1;
}

/* -------------------------------------------------------------- receiver */

void eau2_net_rx_init(struct eau2_net_rx *rx, struct eau2_net_stats *st)
{
	memset(rx, 0, sizeof(*rx));
	rx->st = st;
}

int eau2_net_rx_begin(struct eau2_net_rx *rx, const struct eau2_net_frame *f,
		      const void *payload, uint64_t limit,
		      struct eau2_chunk_hdr *hdr, struct eau2_error *err)
{
	int rc;

	rx->dst = NULL;
	if (f->type != EAU2_NET_CHUNK_BEGIN)
		return eau2_error_set(err, -EPROTO, "expected a CHUNK_BEGIN frame, got %s (type %u)",
				      eau2_net_type_name(f->type), f->type);
	if (f->len != sizeof(struct eau2_chunk_hdr))
		return eau2_error_set(err, -EBADMSG, "CHUNK_BEGIN frame of %u bytes (not %zu)",
				      f->len, sizeof(struct eau2_chunk_hdr));
	memcpy(&rx->hdr, payload, sizeof(rx->hdr));
	rx->tag = f->aux[0];
	rc = eau2_chunk_hdr_check(&rx->hdr, limit ? limit : EAU2_NET_CHUNK_LIMIT, err);
	if (rc)
		return rc;
	memcpy(hdr, &rx->hdr, sizeof(*hdr));
	return 0;
}

/* The chunk is all there: checked as a reader would check it. */
static int finish(struct eau2_net_rx *rx, struct eau2_error *err)
{
	uint64_t t0 = net_cpu_ns();
	int rc;

	rc = eau2_chunk_check(rx->dst, rx->hdr.total_len, 0, (enum eau2_type)rx->hdr.type,
			      rx->hdr.rows, err);
	if (rc == 0)
		rc = eau2_chunk_verify(rx->dst, err);
	rx->st->checksum_ns += net_cpu_ns() - t0;
	rx->dst = NULL;
	if (rc)
		return eau2_error_prefix(err, -EBADMSG, "received chunk %llu (%s, %u rows)",
					 (unsigned long long)rx->tag,
					 eau2_type_name(rx->hdr.type), rx->hdr.rows);
	return 1;
}

int eau2_net_rx_dst(struct eau2_net_rx *rx, void *dst, uint8_t *scratch0,
		    uint8_t *scratch1, struct eau2_error *err)
{
	rx->dst = dst;
	rx->scratch[0] = scratch0;
	rx->scratch[1] = scratch1;
	memcpy(dst, &rx->hdr, sizeof(rx->hdr));
	rx->pos = sizeof(rx->hdr);
	return rx->pos < rx->hdr.total_len ? 0 : finish(rx, err);
}

int eau2_net_rx_block(struct eau2_net_rx *rx, const struct eau2_net_frame *f,
		      void **into, struct eau2_error *err)
{
	uint64_t raw = f->aux[1] & 0xffffffffu;
	unsigned codec = (unsigned)(f->aux[1] >> 32) & 0xff;
	unsigned elem = (unsigned)(f->aux[1] >> 40) & 0xff;

	if (!rx->dst)
		return eau2_error_set(err, -EPROTO, "chunk block without a chunk");
	if (f->type != EAU2_NET_CHUNK_BLOCK)
		return eau2_error_set(err, -EPROTO,
				      "chunk at byte %llu of %llu: expected a block, got %s (type %u)",
				      (unsigned long long)rx->pos,
				      (unsigned long long)rx->hdr.total_len,
				      eau2_net_type_name(f->type), f->type);
	if (f->aux[0] != rx->pos || raw == 0 || raw > EAU2_NET_BLOCK_MAX ||
	    raw > rx->hdr.total_len - rx->pos || (f->aux[1] >> 48) ||
	    codec >= EAU2_NET_NCODECS ||
	    (codec == EAU2_NET_RAW && (f->len != raw || f->sum != 0)) ||
	    (codec != EAU2_NET_RAW && f->len == 0) ||
	    (codec == EAU2_NET_SHUF_LZ4 ? elem != 8 : elem != 0))
		return eau2_error_set(err, -EBADMSG,
				      "chunk block at %llu (expected %llu) of %llu raw bytes, "
				      "codec %u, element %u, %u on the wire, sum %016llx: "
				      "inconsistent",
				      (unsigned long long)f->aux[0], (unsigned long long)rx->pos,
				      (unsigned long long)raw, codec, elem, f->len,
				      (unsigned long long)f->sum);
	rx->codec = (int)codec;
	rx->elem = (int)elem;
	rx->raw = (uint32_t)raw;
	*into = codec == EAU2_NET_RAW ? rx->dst + rx->pos : rx->scratch[0];
	return 0;
}

int eau2_net_rx_block_done(struct eau2_net_rx *rx, const struct eau2_net_frame *f,
			   struct eau2_error *err)
{
	uint8_t *at = rx->dst + rx->pos;

	/* A raw block's bytes are checked with the whole chunk, by finish. */
	if (rx->codec != EAU2_NET_RAW) {
		char *out = rx->codec == EAU2_NET_SHUF_LZ4 ? (char *)rx->scratch[1] : (char *)at;
		uint64_t t0 = net_cpu_ns();
		int n, rc;

		rc = eau2_net_frame_check(f, rx->scratch[0], err);
		rx->st->checksum_ns += net_cpu_ns() - t0;
		if (rc)
			return rc;
		t0 = net_cpu_ns();
		n = LZ4_decompress_safe((const char *)rx->scratch[0], out, (int)f->len,
					(int)rx->raw);
		if (n == (int)rx->raw && rx->codec == EAU2_NET_SHUF_LZ4)
			unshuffle8(at, rx->scratch[1], rx->raw);
		rx->st->decompress_ns += net_cpu_ns() - t0;
		if (n != (int)rx->raw)
			return eau2_error_set(err, -EBADMSG,
					      "chunk block at %llu: LZ4 gave %d bytes, not %u",
					      (unsigned long long)rx->pos, n, rx->raw);
	}
	rx->st->recv[rx->hdr.type][rx->codec].raw += rx->raw;
	rx->st->recv[rx->hdr.type][rx->codec].wire += f->len;
	rx->st->recv[rx->hdr.type][rx->codec].blocks++;
	rx->pos += rx->raw;
	if (rx->pos < rx->hdr.total_len)
		return 0;
	return finish(rx, err);
}
