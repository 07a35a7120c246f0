// tokenizer_fixtures.js: the expected token ids of lib/tokenizer.c's BPE kind, given by the
// Hugging Face tokenizers library itself (npm package `tokenizers`, pinned in
// tests/reference/node/package.json, installed there by make_fixtures.sh).
//
// Usage: node tests/reference/tokenizer_fixtures.js ROOT
// Writes ROOT/tests/fixtures/tokenizer/{neox,neox_prefix,small}.jsonl, one case a line:
//   {"name": ..., "text": TEXT, "ids": [...]}        TEXT as given (valid UTF-8)
//   {"name": ..., "hex": BYTES, "ids": [...]}        invalid UTF-8, encoded with replacement
// neox: data/gpt-neox-20b-tokenizer.json on every trap, every byte and added token alone,
// whitespace-only texts, KJV passages (Debian's `bible`), multilingual snippets and seeded
// random Unicode strings (characters assigned in Unicode 14.0). neox_prefix: the same file
// with add_prefix_space true (what the test derives by replacing `"add_prefix_space": false`),
// on the traps; neox_nonfc: the same file with a null normalizer, on the traps. small: the hand-written tests/fixtures/tokenizer/small.json; small_noregex:
// the same with the pre-tokenizer's use_regex false. The script also checks that the library
// decodes each encoding back to the NFC form of its text (not with add_prefix_space, whose
// space stays).
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { Tokenizer } = require(path.join(__dirname, 'node', 'node_modules', 'tokenizers'));

const root = process.argv[2] || path.join(__dirname, '..', '..');
const out = path.join(root, 'tests', 'fixtures', 'tokenizer');
const neoxFile = path.join(root, 'data', 'gpt-neox-20b-tokenizer.json');

// mulberry32: a small seeded generator, so the random texts are the same every run.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The texts every naive tokenizer gets wrong.
const traps = [
  ['empty', ''],
  ['added two spaces', 'a  In'],
  ['added spaces runs', 'x   y    z' + ' '.repeat(24) + 'w' + ' '.repeat(30) + 'v' + ' '.repeat(49) + 'u'],
  ['eos mid text', 'Hello<|endoftext|>World'],
  ['eos with spaces', 'end. <|endoftext|> Start'],
  ['eos twice', '<|endoftext|><|endoftext|>x<|padding|>'],
  ['eos broken', '<|endoftext|<|endoftext|>>|endoftext|> <|endoftext'],
  ['nfc composable', 'cafe\u0301 Cafe\u0301s A\u030a\u0301 \u1100\u1161\u11a8 n\u0303o e\u0301\u0301'],
  ['nfc already', 'caf\u00e9 \u00c5ngstr\u00f6m \uac01'],
  ['nfc singletons', '\u2126 \u212b \u1e9b\u0323 \u0344 \u0958 \uf900'],
  ['contractions', "it's we're they've I'm you'll he'd don't can't 'tis"],
  ['contractions upper', "IT'S WE'RE THEY'VE I'M YOU'LL HE'D DON'T 'S 'T"],
  ['contractions unicode', 'it\u2019s we\u2019re I\u02bcm don\uff07t it\u2018s it`s'],
  ['contraction starts', "'s's 'll'll''s x's'"],
  ['spaces before word', 'a   b\t\tc \t d\n\n  e    f'],
  ['space runs end', 'word   '],
  ['space runs start', '   word'],
  ['tabs newlines', 'a\tb\n c\r\nd\r\n\r\ne\n\n\n\tf'],
  ['crlf', 'line one\r\nline two\r\n\r\n'],
  ['emoji', 'I \u2764\ufe0f \ud83e\udd84s \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67 \ud83d\udc4d\ud83c\udffd \ud83c\uddeb\ud83c\uddf7!'],
  ['four byte', '\ud800\udf48 \ud835\udd04\ud835\udd1e \ud840\udc00\ud840\udc01 \ud83d\ude00\ud83d\ude00'],
  ['cjk', '\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8\u3002\u3053\u3093\u306b\u3061\u306f\u4e16\u754c\uff01\ud55c\uad6d\uc5b4'],
  ['arabic', '\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u060c \u0661\u0662\u0663'],
  ['combining', 'a\u0300\u0301\u0302\u0303 Z\u0335\u0336\u0337 \u0915\u094d\u0937 \u0e01\u0e33'],
  ['digits scripts', '123 \u0661\u0662\u0663 \u0967\u0968\u0969 \uff11\uff12 \u00b2\u00b3 \u00bd \u2160\u216b \u3007 \u0f20 9\u00b9'],
  ['numbers mixed', '3.14159 1,000,000 2024-01-01 0x1F 1e-9 $5 50%'],
  ['punctuation', '!!! ... ??? --- (a) [b] {c} <d> "e" #f @g ~h ^i &j *k'],
  ['whitespace kinds', 'a\u00a0b\u1680c\u2000d\u2003e\u2009f\u200ag\u2028h\u2029i\u202fj\u205fk\u3000l\u0085m\u180en\u200bo\ufeffp\u000bq\u000cr'],
  ['whitespace before nonspace kinds', 'x\u00a0\u00a0y \u3000\u3000z \u2028 w'],
  ['control chars', 'a\u0000b\u0001c\u001fd\u007fe\u0080f\u009fg'],
  ['private surrogate-free astral', '\udb80\udc00 \udbff\udffd \ud83f\udffe'],
  ['noncharacters', '\ufdd0\ufffe\uffff'],
  ['replacement char', '\ufffd\ufffd a\ufffdb'],
  ['long word', 'a'.repeat(300) + ' ' + 'ab'.repeat(200)],
  ['long punct', '='.repeat(100) + '\n' + '-'.repeat(77)],
  ['code', 'def f(x):\n    return x ** 2  # square\n\nif __name__ == "__main__":\n\tprint(f(3))\n'],
  ['url', 'https://example.com/path?q=1&r=two#frag mailto:someone@example.org'],
  ['mixed case', 'HelloWorld helloWORLD hELLO McDonald iPhone'],
  ['greek cyrillic', '\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440'],
  ['hebrew devanagari thai', '\u05e9\u05dc\u05d5\u05dd \u0928\u092e\u0938\u094d\u0924\u0947 \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35'],
];

const whitespace = ['ws space', ' '], ws = [whitespace];
for (const [name, s] of [
  ['ws two', '  '], ['ws three', '   '], ['ws 24', ' '.repeat(24)], ['ws 25', ' '.repeat(25)],
  ['ws 100', ' '.repeat(100)], ['ws tab', '\t'], ['ws newline', '\n'], ['ws newlines', '\n\n\n'],
  ['ws crlf', '\r\n'], ['ws mixed', ' \t\n \r\n  '], ['ws nbsp', '\u00a0'], ['ws ideographic', '\u3000 '],
  ['ws line sep', '\u2028\u2029'], ['ws nel', '\u0085'], ['ws vt ff', '\u000b\u000c'],
  ['ws space newline space', ' \n '], ['ws newline spaces', '\n    ']])
  ws.push([name, s]);

// Multilingual snippets (written for these fixtures).
const snippets = [
  'The quick brown fox jumps over the lazy dog. It\'s 5 o\'clock somewhere!',
  'Le c\u0153ur a ses raisons que la raison ne conna\u00eet point. \u00c9t\u00e9 \u00e0 l\u2019\u00e9cole.',
  'Gr\u00fc\u00dfe aus M\u00fcnchen: \u00c4pfel, \u00d6l und \u00dcbermut kosten 12,50 \u20ac.',
  '\u00bfD\u00f3nde est\u00e1 la biblioteca? \u00a1Ma\u00f1ana ser\u00e1 otro d\u00eda!',
  '\u0417\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439\u0442\u0435, \u043a\u0430\u043a \u0434\u0435\u043b\u0430? \u0412\u0441\u0451 \u0445\u043e\u0440\u043e\u0448\u043e, 2023 \u0433\u043e\u0434.',
  '\u4eca\u5929\u5929\u6c14\u5f88\u597d\uff0c\u6211\u4eec\u53bb\u516c\u56ed\u6563\u6b65\u5427\u3002\u4e00\u4e8c\u4e09\u56db\u4e94\u3002',
  '\u6771\u4eac\u3067\u30e9\u30fc\u30e1\u30f3\u3092\u98df\u3079\u307e\u3057\u305f\u3002\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a\u3002',
  '\ud55c\uad6d\uc5b4\ub294 \ud55c\uae00\ub85c \uc4f4\ub2e4. \uc548\ub155\ud558\uc138\uc694!',
  '\u0627\u0644\u0644\u063a\u0629 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u062c\u0645\u064a\u0644\u0629 \u062c\u062f\u064b\u0627\u061f \u0646\u0639\u0645\u060c \u0661\u0669\u0668\u0664.',
  '\u05e2\u05d1\u05e8\u05d9\u05ea \u05e0\u05db\u05ea\u05d1\u05ea \u05de\u05d9\u05de\u05d9\u05df \u05dc\u05e9\u05de\u05d0\u05dc.',
  '\u0939\u093f\u0928\u094d\u0926\u0940 \u092e\u0947\u0902 \u0967\u0968\u0969 \u0905\u0902\u0915 \u0939\u0948\u0902\u0964',
  '\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22\u0e44\u0e21\u0e48\u0e21\u0e35\u0e0a\u0e48\u0e2d\u0e07\u0e27\u0e48\u0e32\u0e07\u0e23\u0e30\u0e2b\u0e27\u0e48\u0e32\u0e07\u0e04\u0e33',
  '\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac: \u1f08\u03c1\u03c7\u1f74 \u1f25\u03bc\u03b9\u03c3\u03c5 \u03c0\u03b1\u03bd\u03c4\u03cc\u03c2.',
  'Ti\u1ebfng Vi\u1ec7t c\u00f3 nhi\u1ec1u d\u1ea5u: \u1eafn \u1ea5t \u1eddi \u1ef1.',
  '\u1010\u1019\u1014\u103a\u1019\u102c \u1018\u102c\u101e\u102c \u0d2e\u0d32\u0d2f\u0d3e\u0d33\u0d02 \u0ba4\u0bae\u0bbf\u0bb4\u0bcd',
  'Emoji: \ud83d\ude80\ud83c\udf0d\u2728 \ud83d\udc69\ud83c\udffe\u200d\ud83d\udcbb #hashtag @user \u263a\ufe0f',
  'Math: \u2200x \u2208 \u211d, x\u00b2 \u2265 0; \u2211\u1d62 a\u1d62 = \u221e? \u03c0 \u2248 3.14159',
];

// Random Unicode strings drawn from ranges that matter to the pattern and to NFC.
const ranges = [
  [0x20, 0x7e, 30], [0x09, 0x0d, 4], [0xa0, 0xff, 4], [0x100, 0x24f, 3], [0x300, 0x36f, 4],
  [0x370, 0x3ff, 2], [0x400, 0x4ff, 2], [0x590, 0x6ff, 3], [0x900, 0x97f, 2], [0xe00, 0xe7f, 1],
  [0x1100, 0x11ff, 3], [0x1e00, 0x1eff, 2], [0x2000, 0x206f, 3], [0x2070, 0x218f, 2],
  [0x2190, 0x2bff, 1], [0x3000, 0x303f, 2], [0x3040, 0x30ff, 2], [0x4e00, 0x9fff, 3],
  [0xac00, 0xd7a3, 3], [0xf900, 0xfaff, 1], [0xfb00, 0xfdff, 1], [0xfe00, 0xfe0f, 1],
  [0xff00, 0xffef, 2], [0x10000, 0x1ffff, 2], [0x1f300, 0x1faff, 3], [0x20000, 0x2ffff, 1],
  [0xe0000, 0xe007f, 1], [0x0, 0x10ffff, 2], [0x660, 0x669, 1], [0x966, 0x96f, 1],
];
const weightSum = ranges.reduce((s, r) => s + r[2], 0);

// Code points assigned in Unicode 14.0, the version of PCRE2 10.42's property tables (and of
// Debian 12's Python, which lists them here): the library's regex engine knows a later version,
// so a character assigned since may be classed differently (docs/tokenizer.md).
function unicode14() {
  const py = 'import sys, unicodedata as u\n' +
    'assert u.unidata_version == "14.0.0", u.unidata_version\n' +
    'sys.stdout.write(bytes(0 if u.category(chr(c)) == "Cn" else 1 for c in range(0x110000)).hex())';
  const hex = execFileSync('python3', ['-c', py], { encoding: 'utf8', maxBuffer: 1 << 23 });
  return Buffer.from(hex, 'hex');
}
const assigned = unicode14();
function randomText(rand, n) {
  let s = '';
  while (s.length < n) {
    let w = rand() * weightSum, r = ranges[0];
    for (const x of ranges) if ((w -= x[2]) < 0) { r = x; break; }
    let cp = r[0] + Math.floor(rand() * (r[1] - r[0] + 1));
    if (!assigned[cp] || (cp >= 0xd800 && cp <= 0xdfff)) continue; // surrogates are not text
    const k = rand();
    if (k < 0.08) s += ' '.repeat(1 + Math.floor(rand() * 5));
    else if (k < 0.1) s += "'" + ['s', 't', 're', 'S', 'll', 'd'][Math.floor(rand() * 6)];
    else if (k < 0.11) s += '<|endoftext|>';
    s += String.fromCodePoint(cp);
  }
  return s;
}

// KJV passages: Debian's bible-kjv through its `bible` program, in chunks of about 4 KB.
function kjv() {
  let text;
  try {
    text = execFileSync('bible', ['-l100000', 'Gen1:1-Gen11:32', 'Ps119:1-Ps119:176',
      'Exod1:1-Exod20:26', 'Prov1:1-Prov3:35', 'Isa40:1-Isa40:31', 'Matt5:1-Matt7:29', 'John1:1-John3:36',
      'Rom8:1-Rom8:39', 'Rev21:1-Rev22:21'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  } catch (e) {
    console.error('tokenizer_fixtures.js: cannot run `bible` (apt-get install bible-kjv bible-kjv-text)');
    process.exit(69);
  }
  const cases = [];
  for (let i = 0, k = 0; i < text.length; k++) {
    let j = Math.min(text.length, i + 4096);
    const nl = text.indexOf('\n', j);
    j = nl < 0 ? text.length : nl + 1;
    cases.push(['kjv ' + k, text.slice(i, j)]);
    i = j;
  }
  return cases;
}

function neoxCases(tok) {
  const cases = traps.concat(ws).map(([n, t]) => ({ name: n, text: t }));
  for (let b = 0; b < 256; b++) {
    if (b < 0x80) cases.push({ name: 'byte ' + b, text: String.fromCharCode(b) });
    else {
      cases.push({ name: 'byte ' + b, hex: b.toString(16) });
      cases.push({ name: 'char U+' + b.toString(16), text: String.fromCharCode(b) });
    }
  }
  const added = JSON.parse(fs.readFileSync(neoxFile, 'utf8')).added_tokens;
  for (const a of added) cases.push({ name: 'added ' + a.id, text: a.content });
  for (const [name, hex] of [
    ['invalid lone continuation', '61806220'], ['invalid truncated 3', '6f6b20e282207468656e'],
    ['invalid overlong', 'c0afe080af'], ['invalid surrogate', 'eda080edbfbf'],
    ['invalid f0 80', 'f0808080'], ['invalid f4 90', 'f4908080'], ['invalid f5', 'f5f6f7ff'],
    ['invalid truncated end', '616263e2'], ['invalid mixed', 'e282ac80e2828220c3']])
    cases.push({ name, hex });
  snippets.forEach((s, i) => cases.push({ name: 'snippet ' + i, text: s }));
  for (const [name, text] of kjv()) cases.push({ name, text });
  const rand = rng(20241031);
  for (let i = 0; i < 60; i++) cases.push({ name: 'random ' + i, text: randomText(rand, 1500) });
  // the snippets shuffled into one long text, with the added tokens among them
  let mixed = '';
  for (let i = 0; i < 400; i++) {
    mixed += snippets[Math.floor(rand() * snippets.length)];
    mixed += [' ', '\n', '  ', '\n\n', '<|endoftext|>', '\t', '   '][Math.floor(rand() * 7)];
  }
  cases.push({ name: 'snippets mixed', text: mixed });
  return cases;
}

// The text a case stands for: its text, or its bytes decoded with replacement (as Python's
// errors="replace": each maximal invalid subpart becomes U+FFFD).
function textOf(c) {
  return c.hex !== undefined ? new TextDecoder('utf-8').decode(Buffer.from(c.hex, 'hex')) : c.text;
}

async function write(tok, cases, file, checkDecode = true) {
  const lines = [];
  let undecoded = 0;
  for (const c of cases) {
    const text = textOf(c);
    const enc = await tok.encode(text);
    const ids = Array.from(enc.getIds());
    const back = await tok.decode(ids, false);
    if (checkDecode && back !== text.normalize('NFC')) {
      undecoded++;
      console.error(`${path.basename(file)}: ${c.name}: the library does not decode to NFC(text)`);
    }
    const o = { name: c.name };
    if (c.hex !== undefined) o.hex = c.hex;
    else o.text = c.text;
    o.ids = ids;
    lines.push(JSON.stringify(o));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const bytes = cases.reduce((s, c) => s + Buffer.byteLength(textOf(c)), 0);
  console.log(`${path.relative(root, file)}: ${cases.length} texts, ${bytes} bytes` +
    (undecoded ? `, ${undecoded} not decoding to NFC` : ''));
}

async function main() {
  fs.mkdirSync(out, { recursive: true });
  const json = fs.readFileSync(neoxFile, 'utf8');
  await write(Tokenizer.fromString(json), neoxCases(), path.join(out, 'neox.jsonl'));
  const prefixed = json.replace(/"add_prefix_space": false/g, '"add_prefix_space": true');
  await write(Tokenizer.fromString(prefixed), traps.concat(ws).map(([n, t]) => ({ name: n, text: t })),
    path.join(out, 'neox_prefix.jsonl'), false);
  const unnormalized = json.replace('"normalizer": {\n    "type": "NFC"\n  }', '"normalizer": null');
  if (unnormalized === json) throw new Error('no NFC normalizer to remove');
  await write(Tokenizer.fromString(unnormalized), traps.map(([n, t]) => ({ name: n, text: t })),
    path.join(out, 'neox_nonfc.jsonl'), false);
  const small = Tokenizer.fromFile(path.join(out, 'small.json'));
  const smallCases = ['ab ab abc<|endoftext|>abcd', 'abab  ab', ' ab', 'cab  abc ', '', 'aaa bbb',
    "ab's", 'x<|endoftext|>', "c's ab'sab 's", ' ab ab  ab   abc'].map((t, i) => ({
    name: 'small ' + i, text: t }));
  await write(small, smallCases, path.join(out, 'small.jsonl'), false); // bytes without a token drop
  // the pre-tokenizer without the split pattern: the first "use_regex": true (pre_tokenizer's)
  const smallJson = fs.readFileSync(path.join(out, 'small.json'), 'utf8');
  const noRegex = Tokenizer.fromString(smallJson.replace('"use_regex": true', '"use_regex": false'));
  await write(noRegex, smallCases, path.join(out, 'small_noregex.jsonl'), false);
}

main().catch((e) => {
  console.error('tokenizer_fixtures.js:', e);
  process.exit(1);
});
