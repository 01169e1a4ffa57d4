SHELL := /bin/bash
# Thin wrapper over CMake + Ninja. `make run` is the main job, `make test` the test suite.
BUILD      ?= build
ASAN_BUILD ?= build-asan
CMAKE_FLAGS ?=
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all setup build run test test-asan fuzz bench clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@bash scripts/run.sh $(BUILD)/reco

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Every test again (unit and CLI) under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: setup
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRECO_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 RECO_SANITIZED=1 ctest --output-on-failure -j $(JOBS)

# libFuzzer harnesses of every parser (loaders, model files, the request JSON reader) under ASan +
# UBSan, FUZZ_SECONDS each.
FUZZ_SECONDS ?= 30
fuzz: setup
	@cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DRECO_SANITIZE=ON -DRECO_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_load fuzz_modelfile fuzz_json
	@for f in load modelfile json; do \
	  mkdir -p build-fuzz/corpus-$$f; \
	  echo "fuzz_$$f: $(FUZZ_SECONDS) s"; \
	  build-fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 \
	    build-fuzz/corpus-$$f tests/fuzz/corpus/$$f 2>&1 | grep -E "stat::number_of_executed_units|ERROR|SUMMARY" ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

bench: build
	@bash scripts/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
