/*
 * text.h - the tokenizer behind the content model (content.c): words from titles and free
 * text, labels (categories, tags) normalised to one spelling, and a title's release-year
 * suffix removed. Byte-oriented and locale-free, so every machine cuts the same tokens:
 *   - a word is a maximal run of ASCII letters, ASCII digits and bytes >= 0x80; ASCII letters are
 *     lower-cased, bytes >= 0x80 are kept as they are (a UTF-8 letter such as "é" stays whole,
 *     unfolded), every other byte separates words ("Schindler's" -> "schindler", "s");
 *   - a short English stop-word list (plus the articles of the commonest title languages) is
 *     dropped by the caller through reco__text_is_stopword.
 */
#ifndef RECO_TEXT_H
#define RECO_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#define RECO_TEXT_WORD_MAX 64 /* bytes of a word kept, including the NUL */

/*
 * Next word of [*p, end) into word (NUL-terminated, at most RECO_TEXT_WORD_MAX - 1 bytes; a
 * longer word is cut at a UTF-8 character boundary and its tail skipped). Advances *p past it.
 * Returns the word's length, or 0 when no word is left.
 */
size_t reco__text_next_word(const char **p, const char *end, char *word);

/* True for a stop word (w is lower-case, len bytes). */
bool reco__text_is_stopword(const char *w, size_t len);

/* Length of s once trailing spaces and a trailing year group "(1995)", "(1995-1999)" or
 * "(2007- )" are removed: "Toy Story (1995)" -> "Toy Story". */
size_t reco__text_strip_year(const char *s, size_t len);

/*
 * A label (category, tag) in one spelling: ASCII lower-cased, runs of white space collapsed
 * to one space, leading and trailing space removed; at most cap - 1 bytes (cut at a UTF-8
 * boundary) plus a NUL into out. Returns the length.
 */
size_t reco__text_label(const char *s, size_t len, char *out, size_t cap);

#endif
