# clvtier - customer tiering engine.  GNU make.
#   make [all]      library + CLI          make check   unit + CLI tests
#   make asan       tests under ASan+UBSan make bench   benchmarks (bench/)
#   make demo       CDNOW end to end       make install prefix=/usr/local DESTDIR=
#   make valgrind   unit tests under valgrind
#   make lint       the layer rule (scripts/lint)  make headers  public headers as C11 and C++
#   make golden REV=<commit> [BIG=big]  every command's outputs against another revision's
#   make fuzz [FUZZ_SECONDS=600]  libFuzzer targets (clang)  make fuzz-smoke  ~2 minutes (CI)
#   make coverage   line and branch coverage of src/ under make check
# Variables: CC (gcc or clang), O (optimisation flags), WERROR=1 (CI), SHARED (../shared).

VERSION  := 0.1.0
CC       ?= cc
prefix   ?= /usr/local
DESTDIR  ?=
SHARED   ?= $(abspath ../shared)
BUILD    ?= build
O        ?= -O2 -g
PKG      ?= pkg-config

# make MPI=1: clvtier-mpi and libclvtier-mpi in build-mpi/, with mpicc and
# parallel HDF5 (pkg-config hdf5-openmpi, not the `hdf5` alias, which follows
# whichever dev package was installed last).  The serial build is unchanged.
MPI      ?= 0
ifeq ($(MPI),1)
CC       := mpicc
HDF5_PC  := hdf5-openmpi
BUILD    := build-mpi
NAME     := clvtier-mpi
COMM_OUT := src/core/comm_serial.c
CPPFLAGS += -DCT_MPI=1
else
HDF5_PC  := hdf5-serial
NAME     := clvtier
COMM_OUT := src/core/comm_mpi.c
endif
# OpenBLAS: Debian's default (pthreads) build.  clvtier runs its own fixed
# thread blocks and sets OpenBLAS to one thread before calling it from them
# (DESIGN.md, Speed/Threads).  Not the serial variant: it is built without
# locking and gives wrong results when called from several threads at once.
BLAS_LIBS := $(shell $(PKG) --libs openblas)
# GSL's pkg-config adds -lgslcblas; we take CBLAS from OpenBLAS instead (it is
# linked ahead of libgsl's own libgslcblas dependency, so GSL's calls use it).
DEP_CFLAGS := $(shell $(PKG) --cflags gsl $(HDF5_PC) openblas inih zlib liblzma libzstd)
DEP_LIBS   := $(shell $(PKG) --libs-only-L $(HDF5_PC)) -lhdf5 -lgsl $(BLAS_LIBS) -linih -lnettle -lz -llzma -lzstd -lpthread -lmvec -lm
TEST_CFLAGS := $(shell $(PKG) --cflags cmocka)
TEST_LIBS   := $(shell $(PKG) --libs cmocka)

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wcast-qual -Wdouble-promotion -Wvla \
        -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
ifeq ($(WERROR),1)
WARN += -Werror
endif
# Dependencies' headers as system headers: their warnings are not ours.
ISYS     := $(patsubst -I%,-isystem %,$(DEP_CFLAGS))
CPPFLAGS += -Iinclude -Isrc -D_GNU_SOURCE
CFLAGS   += -std=c11 $(O) -fPIC $(WARN) $(ISYS)
LDFLAGS  += -Wl,--as-needed

# One folder per layer (DESIGN.md): core, data, numerics, domain, pipeline; cli on top.
LAYERS   := core data numerics numerics/clv numerics/kmeans domain pipeline
LIB_SRC  := $(filter-out $(COMM_OUT),$(sort $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c))))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
BENCH_SRC:= $(sort $(wildcard bench/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

LIBA     := $(BUILD)/lib$(NAME).a
LIBSO    := $(BUILD)/lib$(NAME).so.0
CLI      := $(BUILD)/$(NAME)

.PHONY: all check check-mpi unit cli-test lint headers golden bench demo asan valgrind coverage fuzz fuzz-smoke fuzz-lib FORCE install uninstall clean
all: $(LIBA) $(LIBSO) $(CLI) $(BUILD)/clvtier.pc

$(BUILD)/%.o: %.c $(wildcard include/clvtier/*.h $(foreach l,$(LAYERS) cli,src/$(l)/*.h))
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIBSO): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,lib$(NAME).so.0 $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

$(CLI): $(CLI_OBJ) $(LIBA)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBA) $(DEP_LIBS)

$(BUILD)/tests/%: tests/%.c $(LIBA) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(TEST_CFLAGS) -o $@ $< $(LIBA) $(DEP_LIBS) $(TEST_LIBS)

# test_nomem makes the library's allocations fail in turn (tests/test_nomem.c)
$(BUILD)/tests/test_nomem: TEST_LIBS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign

$(BUILD)/bench/%: bench/%.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIBA) $(DEP_LIBS)

$(BUILD)/clvtier.pc: clvtier.pc.in Makefile
	@mkdir -p $(dir $@)
	sed -e 's|@prefix@|$(prefix)|' -e 's|@version@|$(VERSION)|' $< > $@

# ---- tests -------------------------------------------------------------
unit: $(TESTS)
	@fail=0; for t in $(TESTS); do \
	    CT_DATA=$(SHARED)/data CT_TMP=$(BUILD)/tmp ./$$t || fail=1; \
	done; \
	echo "test_kmeans again without the SIMD kernels (the GEMM path):"; \
	CLVTIER_NO_SIMD=1 CT_DATA=$(SHARED)/data CT_TMP=$(BUILD)/tmp ./$(BUILD)/tests/test_kmeans || fail=1; \
	echo "test_kmeans again with the AVX2 kernels (where the CPU has AVX-512):"; \
	CLVTIER_SIMD=avx2 CT_DATA=$(SHARED)/data CT_TMP=$(BUILD)/tmp ./$(BUILD)/tests/test_kmeans || fail=1; \
	echo "test_kmeans again with AVX-512F alone (where the CPU has AVX512-VBMI2):"; \
	CLVTIER_SIMD=avx512f CT_DATA=$(SHARED)/data CT_TMP=$(BUILD)/tmp ./$(BUILD)/tests/test_kmeans || fail=1; \
	exit $$fail

# clvtier-mpi against the serial build (needs scripts/bootstrap --mpi)
check-mpi:
	$(MAKE) --no-print-directory MPI=0 all
	$(MAKE) --no-print-directory MPI=1 all
	CT_DATA=$(SHARED)/data CLVTIER=$(abspath build/clvtier) \
	    CLVTIER_MPI=$(abspath build-mpi/clvtier-mpi) sh tests/mpi/run.sh

cli-test: $(CLI)
	CT_DATA=$(SHARED)/data CLVTIER=$(abspath $(CLI)) sh tests/cli/run.sh

# Every command's outputs against those of revision REV (make golden REV=HEAD~3
# [BIG=big]): for changes that must not change any output.
golden: all
	SHARED=$(SHARED) CT_DATA=$(SHARED)/data CLVTIER=$(abspath $(CLI)) sh tests/golden/compare.sh $(REV) $(BIG)

# The layer rule of DESIGN.md from the #include lines; numerics without I/O;
# a library that never prints (scripts/lint).
lint:
	@sh scripts/lint

# Every public header compiles on its own as C11, and all of them as C++
# (extern "C"), when a C++ compiler is installed.
CXX ?= c++
headers:
	@mkdir -p $(BUILD)/headers
	@for h in include/clvtier/*.h; do \
	    printf '#include "clvtier/%s"\n' "$$(basename $$h)" > $(BUILD)/headers/one.c; \
	    $(CC) $(CPPFLAGS) -std=c11 $(WARN) $(ISYS) -fsyntax-only $(BUILD)/headers/one.c || exit 1; \
	done
	@if command -v $(CXX) >/dev/null 2>&1; then \
	    printf '#include "clvtier/clvtier.h"\nint main() { return ct_strerror(CT_OK) == 0; }\n' \
	        > $(BUILD)/headers/all.cc; \
	    $(CXX) $(CPPFLAGS) $(ISYS) -Wall -Wextra -fsyntax-only $(BUILD)/headers/all.cc || exit 1; \
	    echo "headers: each public header alone (C11) and all as C++: ok"; \
	else echo "headers: no C++ compiler ($(CXX)): C++ check skipped"; fi

check: all
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory headers
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory cli-test

asan:
	$(MAKE) --no-print-directory BUILD=build-asan \
	    O='-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all' \
	    LDFLAGS='-fsanitize=address,undefined' check

valgrind: $(TESTS)
	@fail=0; for t in $(TESTS); do \
	    CT_SKIP_SLOW=1 CT_DATA=$(SHARED)/data CT_TMP=$(BUILD)/tmp valgrind -q --error-exitcode=9 \
	        --leak-check=full --errors-for-leak-kinds=definite ./$$t || fail=1; \
	done; exit $$fail

# ---- coverage: make check under gcc --coverage, lines and branches of src/ ---
coverage:
	@rm -rf build-cov
	$(MAKE) --no-print-directory BUILD=build-cov O='-O0 -g --coverage' LDFLAGS='--coverage' check
	@sh scripts/coverage build-cov

# ---- fuzzing (clang's libFuzzer, ASan + UBSan) ------------------------------
# make fuzz [FUZZ_SECONDS=600]: every target with mutations for FUZZ_SECONDS
# each; make fuzz-smoke (CI, ~2 minutes): each target over its seed corpus
# (tests/fuzz/corpus/<target>, copied: new inputs stay in the build folder)
# plus 25 s of mutations, the HDF5 target over its corpus only (fuzz_hdf5.c).
FUZZ_TARGETS := ingest summary model hdf5
FUZZ_BUILD   := build-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_SECONDS ?= 600
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

# the library built by clang with the fuzzer's coverage hooks (a sub-make:
# fuzz-lib is $(LIBA) there)
fuzz-lib: $(LIBA)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h FORCE
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
	    O='-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN)' fuzz-lib
	clang $(CPPFLAGS) $(ISYS) -std=c11 -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) $< \
	    $(FUZZ_BUILD)/libclvtier.a $(DEP_LIBS) -o $@

FORCE:

$(FUZZ_BUILD)/corpus-%: $(FUZZ_BUILD)/fuzz_% $(CLI)
	@rm -rf $@ && mkdir -p $@
	@cp tests/fuzz/corpus/$*/* $@/ 2>/dev/null || true
	@if [ "$*" = hdf5 ]; then \
	    $(CLI) synth -n 30 --seed 1 -o $@/synth.h5 -q && \
	    $(CLI) ingest --summary $(SHARED)/data/cdnow_customers_summary.csv -o $@/summary.h5 -q; fi

fuzz: $(FUZZ_BINS) $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/corpus-%)
	@for t in $(FUZZ_TARGETS); do \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	    $(FUZZ_BUILD)/fuzz_$$t $(FUZZ_BUILD)/corpus-$$t -max_total_time=$(FUZZ_SECONDS) \
	        -artifact_prefix=$(FUZZ_BUILD)/crash-$$t- -print_final_stats=1 || exit 1; \
	done

fuzz-smoke: $(FUZZ_BINS) $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/corpus-%)
	@for t in $(FUZZ_TARGETS); do \
	    if [ $$t = hdf5 ]; then time=0; runs=-runs=0; else time=25; runs=; fi; \
	    echo "fuzz-smoke: $$t (corpus, then $$time s of mutations)"; \
	    $(FUZZ_BUILD)/fuzz_$$t $(FUZZ_BUILD)/corpus-$$t -max_total_time=$$time $$runs -seed=14 \
	        -artifact_prefix=$(FUZZ_BUILD)/crash-$$t- 2>$(FUZZ_BUILD)/fuzz-$$t.log \
	        || { tail -40 $(FUZZ_BUILD)/fuzz-$$t.log; exit 1; }; \
	    grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs)' $(FUZZ_BUILD)/fuzz-$$t.log | tail -1; \
	done

# ---- bench & demo ---------------------------------------------------------
bench: all $(BENCHES)
	CLVTIER=$(abspath $(CLI)) BUILD=$(abspath $(BUILD)) CLVTIER_MPI=$(abspath build-mpi/clvtier-mpi) \
	    PEERS=$(SHARED)/peers/python sh bench/run.sh

demo: all
	CLVTIER=$(abspath $(CLI)) SHARED=$(SHARED) sh scripts/demo

# ---- install --------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(prefix)/bin $(DESTDIR)$(prefix)/lib/pkgconfig $(DESTDIR)$(prefix)/include/clvtier
	install -m 755 $(CLI) $(DESTDIR)$(prefix)/bin/$(NAME)
	install -m 644 $(LIBA) $(DESTDIR)$(prefix)/lib/lib$(NAME).a
	install -m 755 $(LIBSO) $(DESTDIR)$(prefix)/lib/lib$(NAME).so.0
	ln -sf lib$(NAME).so.0 $(DESTDIR)$(prefix)/lib/lib$(NAME).so
	install -m 644 include/clvtier/*.h $(DESTDIR)$(prefix)/include/clvtier/
	sed -e 's|@prefix@|$(prefix)|' -e 's|@version@|$(VERSION)|' clvtier.pc.in \
	    > $(DESTDIR)$(prefix)/lib/pkgconfig/clvtier.pc

uninstall:
	rm -f $(DESTDIR)$(prefix)/bin/$(NAME) $(DESTDIR)$(prefix)/lib/lib$(NAME).a \
	      $(DESTDIR)$(prefix)/lib/lib$(NAME).so.0 $(DESTDIR)$(prefix)/lib/lib$(NAME).so \
	      $(DESTDIR)$(prefix)/lib/pkgconfig/clvtier.pc
	rm -rf $(DESTDIR)$(prefix)/include/clvtier

clean:
	rm -rf build build-asan
