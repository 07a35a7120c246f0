// tasks_encode.js: token ids of texts by the Hugging Face tokenizers library (npm package
// `tokenizers`, installed into tests/reference/node/node_modules by make_fixtures.sh), for
// tasks_ref.py's BPE fixtures.
//
// Usage: node tests/reference/tasks_encode.js TOKENIZER_JSON < texts.json > ids.json
// texts.json is a JSON array of strings; ids.json the array of their id arrays, each encoded
// without special tokens (as lm-evaluation-harness encodes contexts and continuations).
'use strict';
const fs = require('fs');
const path = require('path');
const modules = process.env.TF_NODE_MODULES || path.join(__dirname, 'node', 'node_modules');
const { Tokenizer } = require(path.join(modules, 'tokenizers'));

async function main() {
  const tok = Tokenizer.fromFile(process.argv[2]);
  const texts = JSON.parse(fs.readFileSync(0, 'utf8'));
  const out = [];
  for (const t of texts) {
    const enc = await tok.encode(t, null, { addSpecialTokens: false });
    out.push(Array.from(enc.getIds()));
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  console.error('tasks_encode.js: ' + e.message);
  process.exit(1);
});
