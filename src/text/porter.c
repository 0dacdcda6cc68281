/* porter.c — classic Porter stemming (see porter.h for the exact variant).
 *
 * State: the word b[0..k] (k = index of the last character) and j, the end of
 * the stem tested by the last successful ends(). The measure m() counts the
 * VC sequences in b[0..j]. Steps are numbered as in the paper: 1a/1b, 1c, 2,
 * 3, 4, 5a/5b. */
#include "text/porter.h"

#include <string.h>

typedef struct stem {
    int32_t *b;
    int k; /* last index */
    int j;
} stem;

static int cons(const stem *z, int i) {
    switch (z->b[i]) {
    case 'a':
    case 'e':
    case 'i':
    case 'o':
    case 'u': return 0;
    case 'y': return i == 0 ? 1 : !cons(z, i - 1);
    default: return 1;
    }
}

/* number of VC sequences in b[0..j] */
static int measure(const stem *z) {
    int n = 0, i = 0;
    for (;;) {
        if (i > z->j) return n;
        if (!cons(z, i)) break;
        i++;
    }
    i++;
    for (;;) {
        for (;;) {
            if (i > z->j) return n;
            if (cons(z, i)) break;
            i++;
        }
        i++;
        n++;
        for (;;) {
            if (i > z->j) return n;
            if (!cons(z, i)) break;
            i++;
        }
        i++;
    }
}

static int vowel_in_stem(const stem *z) {
    for (int i = 0; i <= z->j; i++)
        if (!cons(z, i)) return 1;
    return 0;
}

static int double_cons(const stem *z, int j) {
    if (j < 1) return 0;
    if (z->b[j] != z->b[j - 1]) return 0;
    return cons(z, j);
}

/* consonant-vowel-consonant ending at i, the last consonant not w, x or y */
static int cvc(const stem *z, int i) {
    if (i < 2 || !cons(z, i) || cons(z, i - 1) || !cons(z, i - 2)) return 0;
    int32_t ch = z->b[i];
    return !(ch == 'w' || ch == 'x' || ch == 'y');
}

static int ends_n(stem *z, const char *s, int len) {
    if (len > z->k + 1) return 0;
    for (int i = 0; i < len; i++)
        if (z->b[z->k - len + 1 + i] != (unsigned char)s[i]) return 0;
    z->j = z->k - len;
    return 1;
}

#define ends(z, lit) ends_n(z, lit, (int)sizeof lit - 1)

/* replace b[j+1..k] with s */
static void set_to(stem *z, const char *s) {
    int len = (int)strlen(s); /* replacements are at most 4 letters */
    for (int i = 0; i < len; i++) z->b[z->j + 1 + i] = (unsigned char)s[i];
    z->k = z->j + len;
}

static void replace_if_m(stem *z, const char *s) {
    if (measure(z) > 0) set_to(z, s);
}

static void step1ab(stem *z) {
    if (z->b[z->k] == 's') {
        if (ends(z, "sses"))
            z->k -= 2;
        else if (ends(z, "ies"))
            set_to(z, "i");
        else if (z->b[z->k - 1] != 's')
            z->k--;
    }
    if (ends(z, "eed")) {
        if (measure(z) > 0) z->k--;
    } else if ((ends(z, "ed") || ends(z, "ing")) && vowel_in_stem(z)) {
        z->k = z->j;
        if (ends(z, "at"))
            set_to(z, "ate");
        else if (ends(z, "bl"))
            set_to(z, "ble");
        else if (ends(z, "iz"))
            set_to(z, "ize");
        else if (double_cons(z, z->k)) {
            z->k--;
            int32_t ch = z->b[z->k];
            if (ch == 'l' || ch == 's' || ch == 'z') z->k++;
        } else if (measure(z) == 1 && cvc(z, z->k)) {
            set_to(z, "e");
        }
    }
}

static void step1c(stem *z) {
    if (ends(z, "y") && vowel_in_stem(z)) z->b[z->k] = 'i';
}

/* suffix -> replacement rules; a matching suffix ends the step even when the
 * measure condition fails */
typedef struct rule {
    const char *suffix, *repl;
    int len; /* of suffix */
} rule;

#define R(s, r) \
    { s, r, (int)sizeof s - 1 }

static void apply_rules(stem *z, const rule *rules) {
    for (const rule *r = rules; r->suffix; r++)
        if (ends_n(z, r->suffix, r->len)) {
            replace_if_m(z, r->repl);
            return;
        }
}

static void step2(stem *z) {
    /* The reference implementation dispatches on the penultimate letter; a
     * suffix can only match when its own penultimate letter is that one, so a
     * scan in the same order within each letter picks the same rule. */
    static const rule rules[] = {
        R("ational", "ate"), R("tional", "tion"), R("enci", "ence"), R("anci", "ance"), R("izer", "ize"),
        R("bli", "ble"),     R("alli", "al"),     R("entli", "ent"), R("eli", "e"),     R("ousli", "ous"),
        R("ization", "ize"), R("ation", "ate"),   R("ator", "ate"),  R("alism", "al"),  R("iveness", "ive"),
        R("fulness", "ful"), R("ousness", "ous"), R("aliti", "al"),  R("iviti", "ive"), R("biliti", "ble"),
        R("logi", "log"),    {NULL, NULL, 0}};
    apply_rules(z, rules);
}

static void step3(stem *z) {
    static const rule rules[] = {R("icate", "ic"), R("ative", ""), R("alize", "al"), R("iciti", "ic"),
                                 R("ical", "ic"),  R("ful", ""),   R("ness", ""),    {NULL, NULL, 0}};
    apply_rules(z, rules);
}

static void step4(stem *z) {
    static const rule sfx[] = {R("al", ""),   R("ance", ""), R("ence", ""), R("er", ""),    R("ic", ""),
                               R("able", ""), R("ible", ""), R("ant", ""),  R("ement", ""), R("ment", ""),
                               R("ent", ""),  R("ion", ""),  R("ou", ""),   R("ism", ""),   R("ate", ""),
                               R("iti", ""),  R("ous", ""),  R("ive", ""),  R("ize", ""),   {NULL, NULL, 0}};
    for (int i = 0; sfx[i].suffix; i++) {
        if (!ends_n(z, sfx[i].suffix, sfx[i].len)) continue;
        if (sfx[i].len == 3 && !memcmp(sfx[i].suffix, "ion", 3) &&
            !(z->j >= 0 && (z->b[z->j] == 's' || z->b[z->j] == 't')))
            continue;
        if (measure(z) > 1) z->k = z->j;
        return;
    }
}

static void step5(stem *z) {
    z->j = z->k;
    if (z->b[z->k] == 'e') {
        int a = measure(z);
        if (a > 1 || (a == 1 && !cvc(z, z->k - 1))) z->k--;
    }
    if (z->b[z->k] == 'l' && double_cons(z, z->k) && measure(z) > 1) z->k--;
}

size_t qy_porter_stem(int32_t *w, size_t n) {
    if (n <= 2) return n;
    stem z = {w, (int)n - 1, 0};
    step1ab(&z);
    step1c(&z);
    step2(&z);
    step3(&z);
    step4(&z);
    step5(&z);
    return (size_t)(z.k + 1);
}
