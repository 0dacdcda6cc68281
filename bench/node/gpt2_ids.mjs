// gpt2_ids.mjs — GPT-2 (r50k) token ids of a text file from an npm peer, one
// line of space-separated ids, for the comparison test (tests/text/test_tok_npm.sh).
//   node gpt2_ids.mjs js-tiktoken|gpt-tokenizer FILE
import { readFileSync } from 'node:fs';

const [, , which, file] = process.argv;
const text = readFileSync(file, 'utf8');
let ids;
if (which === 'js-tiktoken') {
  const { getEncoding } = await import('js-tiktoken');
  ids = getEncoding('gpt2').encode(text, [], []);
} else if (which === 'gpt-tokenizer') {
  const { encode } = await import('gpt-tokenizer/encoding/r50k_base');
  ids = encode(text, { allowedSpecial: new Set(), disallowedSpecial: new Set() });
} else {
  console.error('usage: node gpt2_ids.mjs js-tiktoken|gpt-tokenizer FILE');
  process.exit(2);
}
process.stdout.write(ids.join(' ') + '\n');
