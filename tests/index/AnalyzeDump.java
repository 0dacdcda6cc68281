// AnalyzeDump.java — prints Lucene 8 EnglishAnalyzer tokens of each stdin line, space-separated
// (the reference for quarry's analyzer; used by tests/index/test_lucene_parity.sh).
import org.apache.lucene.analysis.*;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.apache.lucene.analysis.tokenattributes.*;
import java.io.*;
import java.nio.charset.StandardCharsets;
public class AnalyzeDump {
  public static void main(String[] a) throws Exception {
    Analyzer an = new EnglishAnalyzer();
    BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    PrintStream out = new PrintStream(new BufferedOutputStream(System.out), false, "UTF-8");
    String line;
    while ((line = r.readLine()) != null) {
      TokenStream ts = an.tokenStream("f", line);
      CharTermAttribute t = ts.addAttribute(CharTermAttribute.class);
      ts.reset(); StringBuilder sb = new StringBuilder(); boolean first = true;
      while (ts.incrementToken()) { if (!first) sb.append(' '); sb.append(t.toString()); first = false; }
      ts.end(); ts.close(); out.println(sb);
    }
    out.flush();
  }
}
