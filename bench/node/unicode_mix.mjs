// unicode_mix.mjs — a reproducible stress text for GPT-2 pre-tokenisation:
// whitespace runs of many kinds, contractions, letters/marks/digits/symbols of
// many scripts, emoji. U+0085 and U+180E are left out: there the peers disagree
// (JS regex \s excludes U+0085; PCRE2 still counts U+180E as a space), and so are
// unassigned code points (Tokenizers.js keeps them where tokenizers' BertNormalizer drops them).
//   node unicode_mix.mjs SEED COUNT > mix.txt
const seed = Number(process.argv[2] ?? 5), count = Number(process.argv[3] ?? 40000);
let state = BigInt(seed) | 1n;
function rnd() { // xorshift64*, uniform in [0, 1)
  state ^= state >> 12n; state ^= (state << 25n) & 0xffffffffffffffffn; state ^= state >> 27n;
  return Number(((state * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn) >> 11n) / 2 ** 53;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const pools = [[0x20, 0x7e], [0xa0, 0x24f], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x6ff],
  [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x2000, 0x206f], [0x2070, 0x22ff], [0x3000, 0x30ff],
  [0x4e00, 0x4fff], [0xac00, 0xad00], [0xff00, 0xffef], [0x1f300, 0x1f64f], [0x1d400, 0x1d4ff]];
const ws = [' ', '  ', '\n', '\t', '\r\n', '\u00a0', '\u2009', '\u3000', '\u2028', '\u000b', '\u000c', ' \n ', '   \n\n'];
const contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "''", "'x", " 's"];
let out = [];
for (let i = 0; i < count; i++) {
  const r = rnd();
  if (r < 0.25) out.push(pick(ws));
  else if (r < 0.35) out.push(pick(contractions));
  else {
    const [a, b] = pick(pools);
    const n = 1 + Math.floor(rnd() * 6);
    for (let k = 0; k < n; k++) {
      const cp = a + Math.floor(rnd() * (b - a + 1));
      if ((cp >= 0xd800 && cp <= 0xdfff) || cp === 0x85 || cp === 0x180e) continue;
      const ch = String.fromCodePoint(cp);
      if (/\p{Cn}/u.test(ch)) continue;
      out.push(ch);
    }
  }
}
process.stdout.write(out.join(''));
