# demo-steps.sh: what demo.sh and demo-bpe.sh share (sourced, with the commands' folder as $1):
# the commands on PATH, the output folder, and run, which prints a step and its command line
# before running it.
bin=${1:-build/bin}
out=${DEMO_DIR:-demo}
mkdir -p "$out"
step() { printf '\n== %s\n$ %s\n' "$1" "$2"; }
run() { step "$1" "$2"; sh -c "$2"; }
PATH=$bin:$PATH
export PATH
