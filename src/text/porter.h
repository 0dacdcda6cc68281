/* porter.h — the classic Porter stemmer as Lucene's PorterStemmer applies it.
 *
 * M.F. Porter, "An algorithm for suffix stripping", Program 14(3), 1980, with
 * the two departures of Porter's own reference implementation that Lucene's
 * PorterStemFilter (EnglishAnalyzer) also makes: step 2 maps "bli" -> "ble"
 * (the paper: "abli" -> "able") and adds "logi" -> "log"; words of one or two
 * characters are left alone. Snowball's "porter" (libstemmer) follows the
 * paper instead, so "technology" stays "technologi" there but becomes
 * "technolog" here, as in Lucene. */
#ifndef QUARRY_TEXT_PORTER_H
#define QUARRY_TEXT_PORTER_H

#include <stddef.h>
#include <stdint.h>

/* Stem the word w[0..n) (Unicode code points, lower case) in place and return
 * its new length (<= n). Characters other than a-z count as consonants. */
size_t qy_porter_stem(int32_t *w, size_t n);

#endif
