// bench_tokenizer.js: encode throughput of the Hugging Face tokenizers library (npm package
// `tokenizers`, installed by make_fixtures.sh into tests/reference/node) on a text file, the
// peer of tests/bench/bench_tokenize.c: the same chunks (cut at the first newline at or past
// 4096 bytes), encoded by encodeBatch, whose Rust thread pool the caller sizes with
// RAYON_NUM_THREADS (1, then 2: run this once per count). One JSON line: MB/s (10^6 bytes),
// best and median of 5 passes after one untimed pass.
//
// Usage: RAYON_NUM_THREADS=N node tests/reference/bench_tokenizer.js TOKENIZER.json TEXT
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require(path.join(__dirname, 'node', 'node_modules', 'tokenizers'));

const CHUNK = 4096, REPS = 5;

async function main() {
  const [file, textFile] = process.argv.slice(2);
  const tok = Tokenizer.fromFile(file);
  const buf = fs.readFileSync(textFile);
  const chunks = [];
  for (let at = 0; at < buf.length;) {
    const nl = at + CHUNK < buf.length ? buf.indexOf(10, at + CHUNK) : -1;
    const end = nl < 0 ? buf.length : nl + 1;
    chunks.push(buf.toString('utf8', at, end));
    at = end;
  }
  let tokens = 0;
  const pass = async () => {
    const t0 = process.hrtime.bigint();
    const encs = await tok.encodeBatch(chunks);
    const s = Number(process.hrtime.bigint() - t0) * 1e-9;
    tokens = encs.reduce((n, e) => n + e.getIds().length, 0);
    return s;
  };
  await pass();
  const s = [];
  for (let r = 0; r < REPS; r++) s.push(await pass());
  s.sort((a, b) => a - b);
  const mb = (x) => Number((1e-6 * buf.length / x).toFixed(2));
  console.log(JSON.stringify({ bench: 'tokenize', impl: 'huggingface', threads: Number(process.env.RAYON_NUM_THREADS || 0),
    bytes: buf.length, chunks: chunks.length, tokens, mb_s_best: mb(s[0]), mb_s_median: mb(s[REPS >> 1]) }));
}

main().catch((e) => {
  console.error('bench_tokenizer.js:', e.message);
  process.exit(1);
});
