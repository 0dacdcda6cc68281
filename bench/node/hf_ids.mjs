// hf_ids.mjs — token ids of a text file from @huggingface/tokenizers (Tokenizers.js)
// for a tokenizer.json, without special tokens; one line of space-separated ids.
//   node hf_ids.mjs TOKENIZER_JSON FILE [--lines]
import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';

const [, , tokPath, file, mode] = process.argv;
const tok = new Tokenizer(JSON.parse(readFileSync(tokPath, 'utf8')), {});
const text = readFileSync(file, 'utf8');
const texts = mode === '--lines' ? text.split('\n').filter((l) => l.length) : [text];
const out = [];
for (const t of texts) out.push(tok.encode(t, { add_special_tokens: false }).ids.join(' '));
process.stdout.write(out.join('\n') + '\n');
