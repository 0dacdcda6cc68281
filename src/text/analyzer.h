/* analyzer.h — search text analysis: Unicode word tokenisation, case folding,
 * English possessive removal, stopwords and stemming.
 *
 * The default configuration reproduces Lucene 8's EnglishAnalyzer (what
 * Anserini runs): StandardTokenizer (UAX#29 word boundaries) ->
 * EnglishPossessiveFilter -> LowerCaseFilter -> StopFilter (the 33 English
 * stopwords) -> PorterStemFilter (classic Porter). Differences from Lucene are
 * listed in docs/search.md ("Analyzer").
 *
 *   qy_analyzer_config cfg;
 *   qy_analyzer_config_default(&cfg);
 *   qy_analyzer *a;
 *   if (qy_analyzer_new(&cfg, &a)) ...;
 *   const qy_token *toks; size_t n;
 *   qy_analyzer_run(a, text, len, &toks, &n);   // valid until the next run
 *   qy_analyzer_free(a);
 *
 * An analyzer is not thread-safe (the Snowball stemmer keeps state): use one
 * per thread. */
#ifndef QUARRY_TEXT_ANALYZER_H
#define QUARRY_TEXT_ANALYZER_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

typedef enum qy_norm_form {
    QY_NORM_NONE = 0, /* no Unicode normalisation (Lucene EnglishAnalyzer) */
    QY_NORM_NFC = 1,
    QY_NORM_NFKC = 2
} qy_norm_form;

typedef enum qy_case_mode {
    QY_CASE_KEEP = 0,
    QY_CASE_LOWER = 1, /* per code point lower case (Lucene LowerCaseFilter) */
    QY_CASE_FOLD = 2   /* full Unicode case folding (utf8proc: "Straße" -> "strasse") */
} qy_case_mode;

typedef struct qy_analyzer_config {
    int norm;           /* qy_norm_form */
    int case_mode;      /* qy_case_mode */
    int possessive;     /* 1: drop a trailing 's (English possessive) */
    char stopwords[16]; /* "lucene" (EnglishAnalyzer's 33 words) or "none" */
    char stemmer[32];   /* "porter" (classic Porter via libstemmer), any libstemmer
                         * algorithm ("english" = Snowball/Porter2...), or "none" */
    int max_token_len;  /* longer words are split into pieces of this many code points */
} qy_analyzer_config;

typedef struct qy_token {
    const char *text; /* NUL-terminated, owned by the analyzer */
    uint32_t len;     /* bytes */
    uint32_t start;   /* byte offsets of the source word in the input */
    uint32_t end;
} qy_token;

typedef struct qy_analyzer qy_analyzer;

/* Lucene EnglishAnalyzer-compatible defaults. */
void qy_analyzer_config_default(qy_analyzer_config *cfg);

/* Checks the configuration (unknown stemmer -> QY_ERR_ARG) and creates an analyzer. */
int qy_analyzer_new(const qy_analyzer_config *cfg, qy_analyzer **out);
void qy_analyzer_free(qy_analyzer *a);
const qy_analyzer_config *qy_analyzer_get_config(const qy_analyzer *a);

/* Analyze `len` bytes of UTF-8 text (invalid bytes are treated as separators).
 * The token array and texts stay valid until the next call or free.
 * Errors: QY_ERR_NOMEM. */
int qy_analyzer_run(qy_analyzer *a, const char *text, size_t len, const qy_token **toks, size_t *ntoks);

/* Configuration <-> JSON object ({"tokenizer":"uax29","norm":"none",...}), as
 * stored in an index manifest. to_json returns NULL when out of memory.
 * from_json: unknown values -> QY_ERR_FORMAT naming the field. */
struct cJSON *qy_analyzer_config_to_json(const qy_analyzer_config *cfg);
int qy_analyzer_config_from_json(const struct cJSON *obj, const char *source, qy_analyzer_config *cfg);

/* Parse a spec such as "stem=none,stop=none,case=fold,norm=nfkc,possessive=0"
 * onto cfg (keys not named keep their value). Errors: QY_ERR_ARG. */
int qy_analyzer_config_parse(const char *spec, qy_analyzer_config *cfg);

/* One line describing the configuration ("uax29 lower possessive stop=lucene stem=porter"). */
void qy_analyzer_config_describe(const qy_analyzer_config *cfg, char *buf, size_t cap);

#endif
