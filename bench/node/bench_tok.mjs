// bench_tok.mjs — encode throughput of the npm GPT-2 tokenizers on one thread:
// js-tiktoken (gpt2), gpt-tokenizer (r50k_base) and @huggingface/tokenizers
// (Tokenizers.js) with the same tokenizer.json quarry loads. Prints the first
// pass and the best of N passes in MB/s of UTF-8 input, for the whole file as
// one text and for its non-empty lines encoded one by one (documents).
//   node bench_tok.mjs TOKENIZER_JSON FILE [REPEAT]
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { getEncoding } from 'js-tiktoken';
import { encode as gptEncode } from 'gpt-tokenizer/encoding/r50k_base';
import { Tokenizer } from '@huggingface/tokenizers';

const [, , tokPath, file, rep] = process.argv;
const repeat = Number(rep ?? 5);
const text = readFileSync(file, 'utf8');
const bytes = Buffer.byteLength(text, 'utf8');
const tiktoken = getEncoding('gpt2');
const hf = new Tokenizer(JSON.parse(readFileSync(tokPath, 'utf8')), {});
const lines = text.split('\n').filter((l) => l.length);
const lineBytes = lines.reduce((a, l) => a + Buffer.byteLength(l, 'utf8'), 0);
const none = { allowedSpecial: new Set(), disallowedSpecial: new Set() };
const encoders = [
  ['js-tiktoken', (t) => tiktoken.encode(t, [], []).length],
  ['gpt-tokenizer', (t) => gptEncode(t, none).length],
  ['@huggingface/tokenizers', (t) => hf.encode(t, { add_special_tokens: false }).ids.length],
];
function time(run) {
  let first = 0, best = Infinity, n = 0;
  for (let r = 0; r <= repeat; r++) {
    const t0 = performance.now();
    n = run();
    const s = (performance.now() - t0) / 1000;
    if (r === 0) first = s; else best = Math.min(best, s);
  }
  return [first, best, n];
}
for (const [name, enc] of encoders) {
  const [first, best, n] = time(() => enc(text));
  console.log(`${name} whole-text 1 thread: first pass ${(bytes / 1e6 / first).toFixed(1)} MB/s, ` +
    `best of ${repeat} ${(bytes / 1e6 / best).toFixed(1)} MB/s (${n} tokens)`);
  const [, lbest, ln] = time(() => lines.reduce((a, l) => a + enc(l), 0));
  console.log(`${name} ${lines.length} lines 1 thread: best of ${repeat} ${(lineBytes / 1e6 / lbest).toFixed(1)} MB/s (${ln} tokens)`);
}
