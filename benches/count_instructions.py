# Counts the instructions one `encode_create_item` call executes, by
# single-stepping it in gdb (this machine exposes no performance counters).
# BENCHMARKS.md quotes the count. Run from the crate's root:
#
#   cargo build --release --example encode_vs_memcpy
#   gdb -q -batch -x benches/count_instructions.py target/release/examples/encode_vs_memcpy
#
# or, for one engine pinned by its name (portable, sse2, avx2, avx512), as
# the example takes it:
#
#   gdb -q -batch -x benches/count_instructions.py --args target/release/examples/encode_vs_memcpy avx2
#
# which counts one call of the example's `encode_pinned` (which calls
# `encode_create_item_on`) instead.
#
# It stops at the second call (the first one found the engine), steps until
# that call returns, prints the count and the most frequent mnemonics, and
# kills the program. Every step is bounded.
import gdb

STEPS_MAX = 100_000

gdb.execute("set pagination off")
gdb.execute("set confirm off")
gdb.execute("starti")
# The release profile keeps line tables only, which name functions without
# their module: `encode_create_item` is the one in `offline_im::formats::encode`.
# The program's arguments, as `show args` quotes them (gdb's Python
# `parameter("args")` reads empty under `--args`).
pinned = gdb.execute("show args", to_string=True).split('"')[1].strip()
counted = "encode_pinned" if pinned else "encode_create_item"
gdb.execute(f"break {counted}")
gdb.execute("continue")
gdb.execute("continue")
sp_at_entry = int(gdb.parse_and_eval("$sp"))
count = 0
mnemonics = {}
while count < STEPS_MAX:
    text = gdb.execute("x/i $pc", to_string=True).split(":", 1)[1].split()
    mnemonic = text[0]
    mnemonics[mnemonic] = mnemonics.get(mnemonic, 0) + 1
    count += 1
    # The call's own return: a `ret` with the stack back where it began.
    if mnemonic.startswith("ret") and int(gdb.parse_and_eval("$sp")) >= sp_at_entry:
        break
    gdb.execute("stepi", to_string=True)
print(f"instructions in one {counted} call{' on ' + pinned if pinned else ''}: {count}")
for name, n in sorted(mnemonics.items(), key=lambda kv: -kv[1])[:12]:
    print(f"  {name} {n}")
gdb.execute("kill")
