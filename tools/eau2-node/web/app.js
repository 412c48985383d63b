// SPDX-License-Identifier: MIT
// eau2-node's dashboard: polls /api/status (see status_json.c for its
// shape) every POLL_MS and fills the tabs. Keys and addresses come from
// the store and the network, so they go into the page as text, never as
// HTML. "nodes" is a list: in a cluster, every member this node has seen
// (dead ones too); numbers a node does not know of another are null.
"use strict";

const POLL_MS = 1000;
const HISTORY = 300; // samples kept for the Transfers chart (5 min)
const samples = [];
let last = null;

const $ = (id) => document.getElementById(id);

function bytes(n) {
	if (n === null || n === undefined) return "?";
	const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
	let i = 0;
	while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
	return (i ? n.toFixed(1) : String(n)) + " " + u[i];
}

function known(x) {
	return x !== null && x !== undefined;
}

function pct(x) {
	return x === null || x === undefined ? "?" : (100 * x).toFixed(0) + "%";
}

function dur(s) {
	if (s < 60) return s.toFixed(0) + " s";
	if (s < 3600) return (s / 60).toFixed(0) + " min";
	if (s < 86400) return (s / 3600).toFixed(1) + " h";
	return (s / 86400).toFixed(1) + " d";
}

// A table cell: text, with an optional class.
function td(text, cls) {
	const c = document.createElement("td");
	c.textContent = text;
	if (cls) c.className = cls;
	return c;
}

function bar(frac, label) {
	const c = document.createElement("td");
	const b = document.createElement("span");
	const i = document.createElement("i");
	b.className = "bar";
	i.style.width = Math.max(0, Math.min(100, 100 * frac)).toFixed(0) + "%";
	b.appendChild(i);
	c.appendChild(b);
	c.appendChild(document.createTextNode(label));
	return c;
}

function fill(tbody, rows, ncols, empty) {
	tbody.replaceChildren();
	if (!rows.length) {
		const tr = document.createElement("tr");
		const c = td(empty, "empty");
		c.colSpan = ncols;
		tr.appendChild(c);
		tbody.appendChild(tr);
		return;
	}
	for (const cells of rows) {
		const tr = document.createElement("tr");
		for (const c of cells) tr.appendChild(c);
		tbody.appendChild(tr);
	}
}

function renderNodes(s) {
	fill($("nodes-rows"), s.nodes.map((n) => {
		const size = n.store_size || 1;
		const memUsed = known(n.mem_available) ? n.mem_total - n.mem_available : null;
		const state = td(n.state, "state-" + n.state);
		if (n.why) state.title = n.why;
		return [
			td(n.address), state,
			td(!known(n.cores_allowed) || n.cores_allowed === n.cores ? String(n.cores)
				: n.cores_allowed + " of " + n.cores, "num"),
			bar(known(memUsed) ? memUsed / (n.mem_total || 1) : 0,
				bytes(memUsed) + " / " + bytes(n.mem_total)),
			bar(n.cpu_busy || 0, pct(n.cpu_busy)),
			td(known(n.load1) ? n.load1.toFixed(2) : "?", "num"),
			bar(known(n.store_used) ? n.store_used / size : 0,
				bytes(n.store_used) + " / " + bytes(n.store_size)),
			td(known(n.clients) ? String(n.clients) : "?", "num"),
			td(known(n.partitions) ? String(n.partitions) : "", "num"),
			td(known(n.runs_running) ? String(n.runs_running) : "?", "num"),
		];
	}), 10, "no nodes");
	const rows = $("nodes-rows").rows;
	for (let i = 0; i < s.nodes.length && i < rows.length; i++) {
		rows[i].dataset.node = s.nodes[i].id;
		// A dead node's figures are its last known ones: dimmed.
		rows[i].classList.toggle("gone", s.nodes[i].state === "dead");
	}
	const c = s.cluster;
	$("nodes-summary").textContent = !c ? "A single node (not in a cluster)." :
		"Cluster: " + ["alive", "suspect", "dead"].map((st) =>
			s.nodes.filter((n) => n.state === st).length + " " + st).join(", ") +
		" (suspect: a probe went unanswered; dead: no answer for " +
		(c.dead_ms / 1000) + " s, or gone from ZooKeeper); " + c.keys + " keys, " +
		c.partitions + " partitions, " + c.under_replicated + " under-replicated" +
		(c.keys_truncated ? " (counted over the first keys only)" : "") +
		(c.error ? "; ZooKeeper: " + c.error : "");
}

function renderSelf(s) {
	const n = s.self, dl = $("self-list");
	const facts = [
		["address", n.address], ["state", n.state], ["pid", String(n.pid)],
		["store", n.store], ["version", s.version],
		["uptime", dur(s.time - n.started)],
		["cores", n.cores_allowed + " allowed of " + n.cores],
		["memory", bytes(n.mem_available) + " available of " + bytes(n.mem_total)],
		["CPU busy", pct(n.cpu_busy)], ["load (1 min)", n.load1.toFixed(2)],
		["node RSS", bytes(n.rss)],
		["store", bytes(n.store_used) + " used, " + bytes(n.store_free) + " free of " +
			bytes(n.store_size)],
		["clients attached", String(n.clients)], ["requests served", String(n.requests)],
		["remote service", remoteText(s.transfers.remote)],
	];
	dl.replaceChildren();
	for (const [k, v] of facts) {
		const dt = document.createElement("dt"), dd = document.createElement("dd");
		dt.textContent = k;
		dd.textContent = v;
		dl.append(dt, dd);
	}
}

function renderData(s) {
	const d = s.data;
	$("data-summary").textContent = d.keys + " keys, " + d.dataframes + " dataframes (" +
		d.unkeyed + " unkeyed), " + d.segments + " segments, " + bytes(d.used_bytes) +
		" used" + (d.truncated ? "; the first " + d.items.length + " keys listed" : "");
	fill($("data-rows"), d.items.map((k) => [
		td(k.key), td(k.id), td(bytes(k.bytes), "num"), td(String(k.segments), "num"),
		td(String(k.partitions), "num"), td(k.nodes.join(", ")),
	]), 6, "the store holds no keys");
	const ci = d.cluster_items;
	$("cluster-data").hidden = !ci;
	if (ci) fill($("cluster-rows"), ci.map((k) => [
		td(k.key), td(String(k.rows), "num"), td(bytes(k.bytes), "num"),
		td(String(k.partitions), "num"),
		td(String(k.under_replicated), k.under_replicated ? "num state-dead" : "num"),
		td(k.nodes.join(", ")),
	]), 6, "the cluster's directory holds no keys");
}

function renderRuns(s) {
	const r = s.runs;
	$("runs-summary").textContent = r.running + " running, " + r.finished + " finished (" +
		r.failed + " failed) on this node for remote clients";
	fill($("rower-rows"), r.rowers.map((x) => [
		td(x.rower), td(String(x.finished), "num"), td(String(x.failed), "num"),
		td(x.finished ? (x.seconds / x.finished).toFixed(3) + " s" : "", "num"),
	]), 4, "no rower has run on this node");
	fill($("runs-rows"), r.items.map((x) => [
		td(x.rower), td(x.input || "(none)"),
		known(x.progress) ? bar(x.progress, pct(x.progress))
			: td(x.rows + " rows", "num"), // a run without input
		td(x.seconds < 10 ? x.seconds.toFixed(1) + " s" : dur(x.seconds), "num"),
		td(x.state + (x.part ? " (partition)" : ""), "run-" + x.state),
		td(x.peer),
	]), 6, "no runs on this node yet (eau2 run sends its runs here; a program's eau2_run runs in that program)");
}

function remoteText(r) {
	if (!r || !r.listening) return "off (no --listen)";
	return (r.idle + r.busy) + " connections (" + r.busy + " busy), " + r.accepted +
		" accepted, " + (r.refused_busy + r.handshake_failed) + " refused, " +
		r.requests + " requests";
}

function renderTransfers(s) {
	const t = s.transfers;
	$("remote-summary").textContent = "Remote service: " + remoteText(t.remote);
	samples.push({ t: s.time, sent: t.sent_bytes, recv: t.received_bytes, load: s.data.load_bytes });
	while (samples.length > HISTORY + 1) samples.shift();
	fill($("peer-rows"), t.peers.map((p) => [
		td(p.peer), td(bytes(p.sent_bytes), "num"), td(bytes(p.received_bytes), "num"),
	]), 3, "no remote peers");
	drawChart();
}

// Rates between successive samples, drawn as three lines.
function drawChart() {
	const cv = $("chart"), g = cv.getContext("2d");
	const w = cv.width, h = cv.height, pad = 40;
	const series = { sent: "#1f6feb", recv: "#bf3989", load: "#1a7f37" };
	const rates = [];
	for (let i = 1; i < samples.length; i++) {
		const a = samples[i - 1], b = samples[i], dt = b.t - a.t || 1;
		rates.push({ t: b.t, sent: Math.max(0, (b.sent - a.sent) / dt),
			recv: Math.max(0, (b.recv - a.recv) / dt),
			load: Math.max(0, (b.load - a.load) / dt) });
	}
	let max = 1;
	for (const r of rates) max = Math.max(max, r.sent, r.recv, r.load);
	g.clearRect(0, 0, w, h);
	g.strokeStyle = "#dde2e8";
	g.fillStyle = "#6b7684";
	g.font = "11px sans-serif";
	for (let k = 0; k <= 4; k++) {
		const y = h - pad / 2 - (h - pad) * k / 4;
		g.beginPath(); g.moveTo(pad, y); g.lineTo(w, y); g.stroke();
		g.fillText(bytes(Math.round(max * k / 4)) + "/s", 2, y - 2);
	}
	if (rates.length < 1) return;
	for (const [name, color] of Object.entries(series)) {
		g.strokeStyle = color;
		g.lineWidth = 2;
		g.beginPath();
		rates.forEach((r, i) => {
			const x = pad + (w - pad) * (HISTORY - rates.length + i) / (HISTORY - 1);
			const y = h - pad / 2 - (h - pad) * r[name] / max;
			if (i) g.lineTo(x, y); else g.moveTo(x, y);
		});
		g.stroke();
	}
}

function render(s) {
	$("where").textContent = s.self.address + "  " + s.self.store;
	renderNodes(s);
	renderSelf(s);
	renderData(s);
	renderRuns(s);
	renderTransfers(s);
}

async function poll() {
	const live = $("live");
	try {
		const r = await fetch("api/status", { cache: "no-store" });
		if (!r.ok) throw new Error("HTTP " + r.status);
		last = await r.json();
		render(last);
		live.className = "live ok";
		live.textContent = "live, " + new Date(last.time * 1000).toLocaleTimeString();
	} catch (e) {
		live.className = "live bad";
		live.textContent = "node unreachable (" + e.message + ")";
		for (const tr of $("nodes-rows").rows) {
			const c = tr.cells[1];
			if (c && tr.dataset.node) { c.textContent = "unreachable"; c.className = "state-dead"; }
		}
	}
	setTimeout(poll, POLL_MS);
}

// A tab is chosen by a click or by the address's #fragment (#data), so a
// link or a bookmark can open one.
function show(tab) {
	const b = document.querySelector('#tabs button[data-tab="' + tab + '"]');
	if (!b) return;
	for (const x of document.querySelectorAll("#tabs button, .tab"))
		x.classList.remove("on");
	b.classList.add("on");
	$(tab).classList.add("on");
	if (tab === "transfers") drawChart();
}

for (const b of document.querySelectorAll("#tabs button"))
	b.addEventListener("click", () => { history.replaceState(null, "", "#" + b.dataset.tab); show(b.dataset.tab); });
window.addEventListener("hashchange", () => show(location.hash.slice(1)));
show(location.hash.slice(1) || "nodes");
poll();
