// LuceneTokens.java — prints how Lucene 8's EnglishAnalyzer analyzes each record
// of a JSONL/TSV corpus or query file, one line per record: id<TAB>token token ...
// (text = title + " " + text for BEIR corpora, as LuceneBench indexes it). A golden
// oracle for quarry's analyzer and for the BM25 reproduction in bm25_check.py.
//
// Build and run (LuceneBench.java is compiled with it, for its readers):
//   javac -d OUT -cp JARS LuceneBench.java LuceneTokens.java
//   java -cp OUT:JARS LuceneTokens [--query] FILE > tokens.tsv
import java.util.List;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;

public final class LuceneTokens {
    public static void main(String[] args) throws Exception {
        boolean query = args.length == 2 && args[0].equals("--query");
        if (args.length != (query ? 2 : 1)) {
            System.err.println("usage: LuceneTokens [--query] FILE.jsonl|FILE.tsv");
            System.exit(2);
        }
        List<String[]> recs = LuceneBench.readRecords(java.nio.file.Paths.get(args[args.length - 1]), query);
        Analyzer analyzer = new EnglishAnalyzer();
        StringBuilder out = new StringBuilder();
        for (String[] r : recs) {
            out.setLength(0);
            out.append(r[0]).append('\t');
            try (TokenStream ts = analyzer.tokenStream(LuceneBench.FIELD, r[1])) {
                CharTermAttribute term = ts.addAttribute(CharTermAttribute.class);
                ts.reset();
                boolean first = true;
                while (ts.incrementToken()) {
                    if (!first) out.append(' ');
                    out.append(term);
                    first = false;
                }
                ts.end();
            }
            System.out.println(out);
        }
    }
}
