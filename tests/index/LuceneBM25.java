// LuceneBM25.java — the Lucene 8 reference for quarry's BM25: indexes a BEIR
// corpus (field "contents" = title + " " + text, as Pyserini does for BEIR)
// with EnglishAnalyzer, searches every query as a bag of words (a SHOULD
// TermQuery per analyzed token, as Anserini's BagOfWordsQueryGenerator) with
// BM25Similarity(k1, b) and prints a TREC run; with a sixth argument it also
// writes the analyzed tokens of every document and query there, one line each.
// Used by tests/index/test_lucene_parity.sh.
//   java -cp lucene-core.jar:lucene-analyzers-common.jar:. LuceneBM25 corpus.jsonl queries.jsonl K k1 b [tokens] > run
//   java ... LuceneBM25 --many K k1 b CORPUS QUERIES RUN TOKENS [CORPUS QUERIES RUN TOKENS ...]   (one JVM)
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
import org.apache.lucene.analysis.*;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.document.*;
import org.apache.lucene.index.*;
import org.apache.lucene.search.*;
import org.apache.lucene.search.similarities.BM25Similarity;
import org.apache.lucene.store.*;

public class LuceneBM25 {
  // minimal extraction of a JSON string member (BEIR lines are flat objects)
  static String field(String line, String key) {
    String pat = "\"" + key + "\":";
    int i = line.indexOf(pat);
    if (i < 0) return "";
    i += pat.length();
    while (line.charAt(i) == ' ') i++;
    if (line.charAt(i) != '"') { int j = i; while (j < line.length() && ",}".indexOf(line.charAt(j)) < 0) j++; return line.substring(i, j).trim(); }
    StringBuilder sb = new StringBuilder();
    for (int j = i + 1; j < line.length(); j++) {
      char c = line.charAt(j);
      if (c == '"') break;
      if (c == '\\') {
        char n = line.charAt(++j);
        switch (n) {
          case 'n': sb.append('\n'); break; case 't': sb.append('\t'); break; case 'r': sb.append('\r'); break;
          case 'b': sb.append('\b'); break; case 'f': sb.append('\f'); break;
          case 'u': sb.append((char) Integer.parseInt(line.substring(j + 1, j + 5), 16)); j += 4; break;
          default: sb.append(n);
        }
      } else sb.append(c);
    }
    return sb.toString();
  }

  static void dumpTokens(Analyzer an, String text, PrintStream out) throws IOException {
    if (out == null) return;
    StringBuilder sb = new StringBuilder();
    try (TokenStream ts = an.tokenStream("contents", text)) {
      CharTermAttribute t = ts.addAttribute(CharTermAttribute.class);
      ts.reset();
      while (ts.incrementToken()) sb.append(sb.length() > 0 ? " " : "").append(t);
      ts.end();
    }
    out.println(sb);
  }

  public static void main(String[] a) throws Exception {
    if (a[0].equals("--many")) {
      for (int i = 4; i + 3 < a.length; i += 4) {
        PrintStream run = new PrintStream(new BufferedOutputStream(new FileOutputStream(a[i + 2])), false, "UTF-8");
        one(new String[] {a[i], a[i + 1], a[1], a[2], a[3], a[i + 3]}, run);
        run.close();
      }
      return;
    }
    one(a, new PrintStream(new BufferedOutputStream(System.out), false, "UTF-8"));
  }

  static void one(String[] a, PrintStream out) throws Exception {
    PrintStream tok = a.length > 5 ? new PrintStream(new FileOutputStream(a[5]), false, "UTF-8") : null;
    int k = Integer.parseInt(a[2]);
    float k1 = Float.parseFloat(a[3]), b = Float.parseFloat(a[4]);
    Analyzer an = new EnglishAnalyzer();
    Directory dir = new ByteBuffersDirectory();
    IndexWriterConfig cfg = new IndexWriterConfig(an);
    cfg.setSimilarity(new BM25Similarity(k1, b));
    IndexWriter w = new IndexWriter(dir, cfg);
    for (String line : Files.readAllLines(Paths.get(a[0]), StandardCharsets.UTF_8)) {
      if (line.isBlank()) continue;
      Document d = new Document();
      d.add(new StringField("id", field(line, "_id"), Field.Store.YES));
      String contents = field(line, "title") + " " + field(line, "text");
      d.add(new TextField("contents", contents, Field.Store.NO));
      dumpTokens(an, contents, tok);
      w.addDocument(d);
    }
    w.forceMerge(1);
    w.close();
    IndexSearcher s = new IndexSearcher(DirectoryReader.open(dir));
    s.setSimilarity(new BM25Similarity(k1, b));
    for (String line : Files.readAllLines(Paths.get(a[1]), StandardCharsets.UTF_8)) {
      if (line.isBlank()) continue;
      String qid = field(line, "_id");
      dumpTokens(an, field(line, "text"), tok);
      BooleanQuery.Builder q = new BooleanQuery.Builder();
      try (TokenStream ts = an.tokenStream("contents", field(line, "text"))) {
        CharTermAttribute t = ts.addAttribute(CharTermAttribute.class);
        ts.reset();
        while (ts.incrementToken()) q.add(new TermQuery(new Term("contents", t.toString())), BooleanClause.Occur.SHOULD);
        ts.end();
      }
      TopDocs td = s.search(q.build(), k);
      int rank = 1;
      for (ScoreDoc sd : td.scoreDocs)
        out.printf(Locale.ROOT, "%s Q0 %s %d %.6f lucene%n", qid, s.doc(sd.doc).get("id"), rank++, sd.score);
    }
    out.flush();
    if (tok != null) tok.close();
  }
}
