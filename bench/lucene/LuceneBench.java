// LuceneBench.java — the Lucene 8 peer of quarry's lexical search benchmark
// (bench/lexical_compare.sh). Indexes a JSONL corpus (BEIR {_id,title,text} or
// Pyserini {id,contents}) or a TSV corpus (id<TAB>text) with EnglishAnalyzer and
// BM25Similarity(k1, b), runs a query file (JSONL {_id,text} or TSV id<TAB>text)
// as Anserini does (bag of words: one SHOULD TermQuery per distinct analyzed term,
// boosted by its count in the query), writes a TREC run, and times:
//   - indexing (one thread, documents/s, index bytes),
//   - single-thread latency per query for top-10 and top-1000 after a JIT warm-up
//     (mean, p50, p99 over every query of every measured round),
//   - throughput on N threads (default 2) for top-10.
// Prints one JSON object with the numbers on stdout.
//
// Build: javac -cp "$(ls /usr/share/java/lucene-{core,analyzers-common}-8*.jar | tr '\n' :)" LuceneBench.java
// Run:   java -cp .:JARS LuceneBench --corpus corpus.jsonl --queries queries.jsonl \
//          --index /tmp/idx --run lucene.run [--k1 0.9 --b 0.4 --depth 1000 --warmup-s 10 --rounds 5 --qps-threads 2 --qps-s 10]
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.StringField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.BoostQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.search.similarities.BM25Similarity;
import org.apache.lucene.store.FSDirectory;

public final class LuceneBench {
    static final String FIELD = "contents";

    // ------------------------------------------------------------ input files

    /** Minimal reader for one flat JSON object: string values by key (others skipped). */
    static Map<String, String> parseFlatJson(String s, String where) {
        Map<String, String> out = new LinkedHashMap<>();
        int[] pos = {0};
        skipWs(s, pos);
        expect(s, pos, '{', where);
        skipWs(s, pos);
        if (peek(s, pos) == '}') return out;
        while (true) {
            skipWs(s, pos);
            String key = readString(s, pos, where);
            skipWs(s, pos);
            expect(s, pos, ':', where);
            skipWs(s, pos);
            char c = peek(s, pos);
            if (c == '"') {
                out.put(key, readString(s, pos, where));
            } else {
                // number, literal, or nested value: skip to the next top-level ',' or '}'
                int depth = 0;
                boolean inStr = false;
                for (; pos[0] < s.length(); pos[0]++) {
                    char d = s.charAt(pos[0]);
                    if (inStr) {
                        if (d == '\\') pos[0]++;
                        else if (d == '"') inStr = false;
                    } else if (d == '"') inStr = true;
                    else if (d == '{' || d == '[') depth++;
                    else if (d == '}' || d == ']') {
                        if (depth == 0) break;
                        depth--;
                    } else if (d == ',' && depth == 0) break;
                }
            }
            skipWs(s, pos);
            char e = peek(s, pos);
            pos[0]++;
            if (e == '}') return out;
            if (e != ',') throw new IllegalArgumentException(where + ": expected ',' or '}' in JSON object");
        }
    }

    static char peek(String s, int[] pos) {
        if (pos[0] >= s.length()) throw new IllegalArgumentException("unexpected end of JSON");
        return s.charAt(pos[0]);
    }

    static void skipWs(String s, int[] pos) {
        while (pos[0] < s.length() && Character.isWhitespace(s.charAt(pos[0]))) pos[0]++;
    }

    static void expect(String s, int[] pos, char c, String where) {
        if (peek(s, pos) != c) throw new IllegalArgumentException(where + ": expected '" + c + "' in JSON");
        pos[0]++;
    }

    static String readString(String s, int[] pos, String where) {
        expect(s, pos, '"', where);
        StringBuilder b = new StringBuilder();
        while (true) {
            char c = peek(s, pos);
            pos[0]++;
            if (c == '"') return b.toString();
            if (c != '\\') {
                b.append(c);
                continue;
            }
            char e = peek(s, pos);
            pos[0]++;
            switch (e) {
                case 'n': b.append('\n'); break;
                case 't': b.append('\t'); break;
                case 'r': b.append('\r'); break;
                case 'b': b.append('\b'); break;
                case 'f': b.append('\f'); break;
                case 'u':
                    b.append((char) Integer.parseInt(s.substring(pos[0], pos[0] + 4), 16));
                    pos[0] += 4;
                    break;
                default: b.append(e);
            }
        }
    }

    /** id and text of each record; JSONL text = title + " " + text (BEIR) or contents (Pyserini). */
    static List<String[]> readRecords(Path path, boolean query) throws IOException {
        List<String[]> out = new ArrayList<>();
        boolean tsv = path.toString().endsWith(".tsv");
        try (BufferedReader r = Files.newBufferedReader(path, StandardCharsets.UTF_8)) {
            String line;
            int n = 0;
            while ((line = r.readLine()) != null) {
                n++;
                if (line.isBlank()) continue;
                String where = path + ":" + n;
                if (tsv) {
                    int tab = line.indexOf('\t');
                    if (tab < 0) throw new IllegalArgumentException(where + ": expected id<TAB>text");
                    out.add(new String[] {line.substring(0, tab), line.substring(tab + 1)});
                    continue;
                }
                Map<String, String> o = parseFlatJson(line, where);
                String id = o.containsKey("_id") ? o.get("_id") : o.get("id");
                if (id == null) throw new IllegalArgumentException(where + ": expected an \"_id\" or \"id\" field");
                String text;
                if (o.containsKey("contents")) text = o.get("contents");
                else if (query) text = o.getOrDefault("text", "");
                else {
                    String title = o.getOrDefault("title", "");
                    String body = o.getOrDefault("text", "");
                    text = title.isEmpty() ? body : title + " " + body;
                }
                out.add(new String[] {id, text});
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ query

    static Query bagOfWords(Analyzer analyzer, String text) throws IOException {
        Map<String, Integer> counts = new LinkedHashMap<>();
        try (TokenStream ts = analyzer.tokenStream(FIELD, text)) {
            CharTermAttribute term = ts.addAttribute(CharTermAttribute.class);
            ts.reset();
            while (ts.incrementToken()) counts.merge(term.toString(), 1, Integer::sum);
            ts.end();
        }
        BooleanQuery.Builder b = new BooleanQuery.Builder();
        for (Map.Entry<String, Integer> e : counts.entrySet())
            b.add(new BoostQuery(new TermQuery(new Term(FIELD, e.getKey())), (float) e.getValue()), BooleanClause.Occur.SHOULD);
        return b.build();
    }

    // ------------------------------------------------------------------ stats

    static String latencyJson(double[] ms) {
        double[] s = ms.clone();
        Arrays.sort(s);
        double sum = 0;
        for (double v : s) sum += v;
        return String.format("{\"mean\": %.4f, \"p50\": %.4f, \"p99\": %.4f, \"n\": %d}", sum / s.length,
                             s[(int) Math.min(s.length - 1, Math.floor(0.50 * s.length))],
                             s[(int) Math.min(s.length - 1, Math.floor(0.99 * s.length))], s.length);
    }

    static double[] timeQueries(IndexSearcher searcher, Query[] queries, int k, int rounds) throws IOException {
        double[] ms = new double[queries.length * rounds];
        int n = 0;
        for (int r = 0; r < rounds; r++)
            for (Query q : queries) {
                long t0 = System.nanoTime();
                TopDocs td = searcher.search(q, k);
                long t1 = System.nanoTime();
                if (td.scoreDocs.length < 0) throw new IllegalStateException();
                ms[n++] = (t1 - t0) / 1e6;
            }
        return ms;
    }

    static long dirBytes(Path dir) throws IOException {
        long total = 0;
        try (var s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) total += Files.size(p);
        }
        return total;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new LinkedHashMap<>();
        a.put("k1", "0.9");
        a.put("b", "0.4");
        a.put("depth", "1000");
        a.put("warmup-s", "10");
        a.put("rounds", "5");
        a.put("qps-threads", "2");
        a.put("qps-s", "10");
        a.put("tag", "lucene-bm25");
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                System.err.println("usage: LuceneBench --corpus F --queries F --index DIR --run F [--k1 0.9] [--b 0.4] "
                                   + "[--depth 1000] [--warmup-s 10] [--rounds 5] [--qps-threads 2] [--qps-s 10]");
                System.exit(2);
            }
            a.put(args[i].substring(2), args[++i]);
        }
        for (String req : new String[] {"corpus", "queries", "index", "run"})
            if (!a.containsKey(req)) {
                System.err.println("LuceneBench: missing --" + req);
                System.exit(2);
            }
        float k1 = Float.parseFloat(a.get("k1")), b = Float.parseFloat(a.get("b"));
        int depth = Integer.parseInt(a.get("depth"));
        BM25Similarity sim = new BM25Similarity(k1, b);
        Analyzer analyzer = new EnglishAnalyzer();

        // ---- index (one thread, as the per-thread indexing rate)
        List<String[]> docs = readRecords(Paths.get(a.get("corpus")), false);
        Path indexDir = Paths.get(a.get("index"));
        Files.createDirectories(indexDir);
        long t0 = System.nanoTime();
        IndexWriterConfig cfg = new IndexWriterConfig(analyzer);
        cfg.setSimilarity(sim);
        cfg.setOpenMode(IndexWriterConfig.OpenMode.CREATE);
        cfg.setRAMBufferSizeMB(512);
        try (FSDirectory dir = FSDirectory.open(indexDir); IndexWriter w = new IndexWriter(dir, cfg)) {
            for (String[] d : docs) {
                Document doc = new Document();
                doc.add(new StringField("id", d[0], Field.Store.YES));
                doc.add(new TextField(FIELD, d[1], Field.Store.NO));
                w.addDocument(doc);
            }
            w.commit();
        }
        double indexS = (System.nanoTime() - t0) / 1e9;
        long indexBytes = dirBytes(indexDir);

        // ---- run file
        List<String[]> qs = readRecords(Paths.get(a.get("queries")), true);
        try (FSDirectory dir = FSDirectory.open(indexDir); DirectoryReader reader = DirectoryReader.open(dir)) {
            IndexSearcher searcher = new IndexSearcher(reader);
            searcher.setSimilarity(sim);
            Query[] queries = new Query[qs.size()];
            for (int i = 0; i < queries.length; i++) queries[i] = bagOfWords(analyzer, qs.get(i)[1]);
            try (BufferedWriter out = Files.newBufferedWriter(Paths.get(a.get("run")), StandardCharsets.UTF_8)) {
                for (int i = 0; i < queries.length; i++) {
                    TopDocs td = searcher.search(queries[i], depth);
                    int rank = 1;
                    for (ScoreDoc sd : td.scoreDocs) {
                        String id = searcher.doc(sd.doc).get("id");
                        out.write(qs.get(i)[0] + " Q0 " + id + " " + rank++ + " " + String.format("%.6f", sd.score) + " "
                                  + a.get("tag") + "\n");
                    }
                }
            }

            // ---- JIT warm-up, then single-thread latency
            long warmEnd = System.nanoTime() + (long) (Double.parseDouble(a.get("warmup-s")) * 1e9);
            long warmQueries = 0;
            while (System.nanoTime() < warmEnd)
                for (Query q : queries) {
                    searcher.search(q, (warmQueries++ & 1) == 0 ? 10 : depth);
                }
            int rounds = Integer.parseInt(a.get("rounds"));
            double[] lat10 = timeQueries(searcher, queries, 10, rounds);
            double[] latDeep = timeQueries(searcher, queries, depth, rounds);

            // ---- throughput on N threads, top-10
            int nt = Integer.parseInt(a.get("qps-threads"));
            long qpsNs = (long) (Double.parseDouble(a.get("qps-s")) * 1e9);
            AtomicLong done = new AtomicLong();
            Thread[] threads = new Thread[nt];
            long qStart = System.nanoTime();
            for (int t = 0; t < nt; t++) {
                final int offset = t * queries.length / nt;
                threads[t] = new Thread(() -> {
                    try {
                        int i = offset;
                        while (System.nanoTime() - qStart < qpsNs) {
                            searcher.search(queries[i], 10);
                            done.incrementAndGet();
                            i = (i + 1) % queries.length;
                        }
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                });
                threads[t].start();
            }
            for (Thread t : threads) t.join();
            double qpsS = (System.nanoTime() - qStart) / 1e9;

            System.out.println("{\"system\": \"Lucene " + org.apache.lucene.util.Version.LATEST + " (EnglishAnalyzer, BM25 k1="
                               + k1 + " b=" + b + ")\",");
            System.out.printf("  \"docs\": %d, \"index_s\": %.4f, \"docs_per_s\": %.1f, \"index_bytes\": %d,%n", docs.size(), indexS,
                              docs.size() / indexS, indexBytes);
            System.out.printf("  \"queries\": %d, \"warmup_queries\": %d, \"rounds\": %d,%n", queries.length, warmQueries, rounds);
            System.out.println("  \"latency_top10_ms\": " + latencyJson(lat10) + ",");
            System.out.println("  \"latency_top" + depth + "_ms\": " + latencyJson(latDeep) + ",");
            System.out.printf("  \"qps_top10\": %.1f, \"qps_threads\": %d}%n", done.get() / qpsS, nt);
        }
    }
}
