// xapian_bench.cc — the Xapian peer of quarry's lexical search benchmark
// (bench/lexical_compare.sh). Same inputs, outputs and timings as
// bench/lucene/LuceneBench.java: indexes a JSONL corpus (BEIR {_id,title,text}
// or Pyserini {id,contents}; text = title + " " + text) with Xapian's
// TermGenerator (English Snowball stemmer, every term stemmed, Lucene's 33
// English stopwords), searches with BM25Weight(k1, k2=0, k3=1, b, min_normlen=0.5)
// as a bag of words (OR of the query's terms, each with its query frequency),
// writes a TREC run, and times indexing, single-thread latency for top-10 and
// top-DEPTH after a warm-up, and QPS on N threads (one Database per thread).
// Prints one JSON object on stdout.
//
// Build: g++ -O2 -std=c++17 xapian_bench.cc -o xapian_bench $(xapian-config --cxxflags --libs) -lcjson -pthread
// Run:   xapian_bench --corpus corpus.jsonl --queries queries.jsonl --index DIR --run xapian.run
//          [--k1 0.9 --b 0.4 --depth 1000 --warmup-s 10 --rounds 5 --qps-threads 2 --qps-s 10]
#include <xapian.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cjson/cJSON.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

// Lucene's EnglishAnalyzer stop set (ENGLISH_STOP_WORDS_SET), for a like-for-like vocabulary.
static const char *kStopwords[] = {"a",    "an",   "and",   "are",  "as",   "at",    "be",   "but",  "by",
                                   "for",  "if",   "in",    "into", "is",   "it",    "no",   "not",  "of",
                                   "on",   "or",   "such",  "that", "the",  "their", "then", "there", "these",
                                   "they", "this", "to",    "was",  "will", "with"};

struct Record {
    std::string id, text;
};

static double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static std::vector<Record> read_records(const std::string &path, bool query) {
    std::ifstream in(path);
    if (!in) {
        std::cerr << path << ": cannot open\n";
        std::exit(1);
    }
    std::vector<Record> out;
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) {
        n++;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        cJSON *o = cJSON_Parse(line.c_str());
        if (!o || !cJSON_IsObject(o)) {
            std::cerr << path << ":" << n << ": expected a JSON object\n";
            std::exit(1);
        }
        auto str = [&](const char *k) -> std::string {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
            return cJSON_IsString(v) ? std::string(v->valuestring) : std::string();
        };
        Record r;
        r.id = str("_id");
        if (r.id.empty()) r.id = str("id");
        if (r.id.empty()) {
            std::cerr << path << ":" << n << ": expected an \"_id\" or \"id\" field\n";
            std::exit(1);
        }
        if (cJSON_GetObjectItemCaseSensitive(o, "contents")) r.text = str("contents");
        else if (query) r.text = str("text");
        else {
            std::string title = str("title"), body = str("text");
            r.text = title.empty() ? body : title + " " + body;
        }
        cJSON_Delete(o);
        out.push_back(std::move(r));
    }
    return out;
}

static Xapian::Query bag_of_words(Xapian::TermGenerator &tg, const std::string &text) {
    Xapian::Document tmp;
    tg.set_document(tmp);
    tg.index_text(text);
    std::vector<Xapian::Query> terms;
    for (Xapian::TermIterator t = tmp.termlist_begin(); t != tmp.termlist_end(); ++t)
        terms.emplace_back(*t, t.get_wdf());
    return Xapian::Query(Xapian::Query::OP_OR, terms.begin(), terms.end());
}

static std::string latency_json(std::vector<double> ms) {
    std::sort(ms.begin(), ms.end());
    double sum = 0;
    for (double v : ms) sum += v;
    auto at = [&](double q) { return ms[std::min(ms.size() - 1, (size_t)(q * (double)ms.size()))]; };
    char buf[200];
    snprintf(buf, sizeof buf, "{\"mean\": %.4f, \"p50\": %.4f, \"p99\": %.4f, \"n\": %zu}", sum / (double)ms.size(), at(0.5),
             at(0.99), ms.size());
    return buf;
}

int main(int argc, char **argv) {
    std::map<std::string, std::string> a = {{"k1", "0.9"},      {"b", "0.4"},    {"depth", "1000"},
                                            {"warmup-s", "10"}, {"rounds", "5"}, {"qps-threads", "2"},
                                            {"qps-s", "10"},    {"tag", "xapian-bm25"}};
    for (int i = 1; i < argc; i++) {
        std::string k = argv[i];
        if (k.rfind("--", 0) != 0 || i + 1 >= argc) {
            std::cerr << "usage: xapian_bench --corpus F --queries F --index DIR --run F [--k1 0.9] [--b 0.4] [--depth 1000]"
                         " [--warmup-s 10] [--rounds 5] [--qps-threads 2] [--qps-s 10]\n";
            return 2;
        }
        a[k.substr(2)] = argv[++i];
    }
    for (const char *req : {"corpus", "queries", "index", "run"})
        if (!a.count(req)) {
            std::cerr << "xapian_bench: missing --" << req << "\n";
            return 2;
        }
    double k1 = std::atof(a["k1"].c_str()), b = std::atof(a["b"].c_str());
    int depth = std::atoi(a["depth"].c_str());
    Xapian::SimpleStopper stopper(std::begin(kStopwords), std::end(kStopwords));
    Xapian::Stem stem("english");
    Xapian::TermGenerator tg;
    tg.set_stemmer(stem);
    tg.set_stemming_strategy(Xapian::TermGenerator::STEM_ALL);
    tg.set_stopper(&stopper);
    tg.set_stopper_strategy(Xapian::TermGenerator::STOP_ALL);

    // ---- index
    std::vector<Record> docs = read_records(a["corpus"], false);
    fs::remove_all(a["index"]);
    double t0 = now_s();
    {
        Xapian::WritableDatabase db(a["index"], Xapian::DB_CREATE_OR_OVERWRITE);
        for (const Record &r : docs) {
            Xapian::Document d;
            tg.set_document(d);
            tg.index_text(r.text);
            d.set_data(r.id);
            db.add_document(d);
        }
        db.commit();
    }
    double index_s = now_s() - t0;
    uintmax_t index_bytes = 0;
    for (const auto &e : fs::recursive_directory_iterator(a["index"]))
        if (e.is_regular_file()) index_bytes += e.file_size();

    // ---- run file
    std::vector<Record> qs = read_records(a["queries"], true);
    std::vector<Xapian::Query> queries;
    for (const Record &q : qs) queries.push_back(bag_of_words(tg, q.text));
    Xapian::Database db(a["index"]);
    auto make_enquire = [&](Xapian::Database &d) {
        Xapian::Enquire e(d);
        e.set_weighting_scheme(Xapian::BM25Weight(k1, 0, 1, b, 0.5));
        return e;
    };
    Xapian::Enquire enq = make_enquire(db);
    {
        FILE *out = fopen(a["run"].c_str(), "w");
        if (!out) {
            std::cerr << a["run"] << ": cannot write\n";
            return 1;
        }
        for (size_t i = 0; i < queries.size(); i++) {
            enq.set_query(queries[i]);
            Xapian::MSet m = enq.get_mset(0, depth);
            int rank = 1;
            for (Xapian::MSetIterator it = m.begin(); it != m.end(); ++it)
                fprintf(out, "%s Q0 %s %d %.6f %s\n", qs[i].id.c_str(), it.get_document().get_data().c_str(), rank++,
                        it.get_weight(), a["tag"].c_str());
        }
        fclose(out);
    }

    // ---- warm-up, then single-thread latency
    double warm_end = now_s() + std::atof(a["warmup-s"].c_str());
    long warm = 0;
    while (now_s() < warm_end)
        for (const Xapian::Query &q : queries) {
            enq.set_query(q);
            enq.get_mset(0, (warm++ & 1) ? depth : 10);
        }
    int rounds = std::atoi(a["rounds"].c_str());
    auto time_queries = [&](int k) {
        std::vector<double> ms;
        for (int r = 0; r < rounds; r++)
            for (const Xapian::Query &q : queries) {
                auto s = std::chrono::steady_clock::now();
                enq.set_query(q);
                Xapian::MSet m = enq.get_mset(0, k);
                auto e = std::chrono::steady_clock::now();
                if (m.size() > (Xapian::doccount)k) std::abort();
                ms.push_back(std::chrono::duration<double, std::milli>(e - s).count());
            }
        return ms;
    };
    std::vector<double> lat10 = time_queries(10), lat_deep = time_queries(depth);

    // ---- throughput on N threads. Xapian objects use non-atomic reference counts,
    // so each thread has its own Database, Enquire and copies of the queries
    // (rebuilt from their serialised form).
    std::vector<std::string> serialised;
    for (const Xapian::Query &q : queries) serialised.push_back(q.serialise());
    int nt = std::atoi(a["qps-threads"].c_str());
    double qps_s = std::atof(a["qps-s"].c_str());
    std::atomic<long> done{0};
    std::vector<std::thread> th;
    const std::string index_path = a["index"];
    double q0 = now_s();
    for (int t = 0; t < nt; t++)
        th.emplace_back([&, t] {
            Xapian::Database d(index_path);
            Xapian::Enquire e(d);
            e.set_weighting_scheme(Xapian::BM25Weight(k1, 0, 1, b, 0.5));
            std::vector<Xapian::Query> mine;
            for (const std::string &sq : serialised) mine.push_back(Xapian::Query::unserialise(sq));
            size_t i = (size_t)t * mine.size() / (size_t)nt;
            long n = 0;
            while (now_s() - q0 < qps_s) {
                e.set_query(mine[i]);
                e.get_mset(0, 10);
                n++;
                i = (i + 1) % mine.size();
            }
            done += n;
        });
    for (auto &t : th) t.join();
    double qps_elapsed = now_s() - q0;

    printf("{\"system\": \"Xapian %s (english stemmer, BM25 k1=%g b=%g)\",\n", Xapian::version_string(), k1, b);
    printf("  \"docs\": %zu, \"index_s\": %.4f, \"docs_per_s\": %.1f, \"index_bytes\": %ju,\n", docs.size(), index_s,
           (double)docs.size() / index_s, index_bytes);
    printf("  \"queries\": %zu, \"warmup_queries\": %ld, \"rounds\": %d,\n", queries.size(), warm, rounds);
    printf("  \"latency_top10_ms\": %s,\n", latency_json(lat10).c_str());
    printf("  \"latency_top%d_ms\": %s,\n", depth, latency_json(lat_deep).c_str());
    printf("  \"qps_top10\": %.1f, \"qps_threads\": %d}\n", (double)done / qps_elapsed, nt);
    return 0;
}
