# SPDX-License-Identifier: MIT
# Thin wrapper over CMake. `make bench` and `make test` install what is
# missing (tools/deps.sh), build, then run.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test asan bench fuzz clean

all: build

deps:
	@sh tools/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DEAU2_SANITIZE=ON \
		-DCMAKE_C_COMPILER=clang $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	EAU2_TEST_QUICK=1 ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DEAU2_FUZZ=ON \
		-DEAU2_SANITIZE=ON -DCMAKE_C_COMPILER=clang $(CMAKE_FLAGS)
	cmake --build build-fuzz -j $(JOBS)

bench: build
	$(BUILD)/eau2 bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
