/*
 * text.c - tokenizer for item text (see text.h for the rules). Nothing here allocates; the
 * content model calls it once per item while it builds its vocabulary.
 */
#include "text.h"

#include <string.h>

static bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static char lower(unsigned char c) { return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c); }

/* Largest n' <= n such that s[0..n') does not end inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n) {
  size_t k = n;
  /* back over continuation bytes to the lead byte, then keep the sequence only if complete */
  while (k > 0 && ((unsigned char)s[k - 1] & 0xC0) == 0x80) k--;
  if (k == 0) return n; /* stray continuation bytes only: keep them */
  unsigned char lead = (unsigned char)s[k - 1];
  size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return n - (k - 1) >= need ? n : k - 1;
}

size_t reco__text_next_word(const char **p, const char *end, char *word) {
  const char *s = *p;
  while (s < end && !is_word_byte((unsigned char)*s)) s++;
  size_t n = 0;
  while (s < end && is_word_byte((unsigned char)*s)) {
    if (n < RECO_TEXT_WORD_MAX - 1) word[n++] = lower((unsigned char)*s);
    s++;
  }
  n = utf8_cut(word, n);
  word[n] = '\0';
  *p = s;
  return n;
}

/* English function words, and the articles and prepositions that open titles in French,
 * Spanish, Italian and German. Sorted, so the lookup is a binary search. */
static const char *const k_stop[] = {
    "a",    "al",   "an",   "and",  "are",  "as",   "at",   "be",   "but",  "by",   "das",  "de",   "dei",
    "del",  "della", "der", "des",  "di",   "die",  "du",   "e",    "el",   "en",   "et",   "for",  "from",
    "has",  "he",   "her",  "his",  "i",    "il",   "in",   "is",   "it",   "its",  "la",   "las",  "le",
    "les",  "lo",   "los",  "me",   "my",   "of",   "on",   "or",   "our",  "she",  "so",   "that", "the",
    "their", "this", "to",  "un",   "una",  "und",  "une",  "was",  "we",   "were", "with", "y",    "you",
    "your",
};

bool reco__text_is_stopword(const char *w, size_t len) {
  size_t lo = 0, hi = sizeof k_stop / sizeof k_stop[0];
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const char *t = k_stop[mid];
    size_t tl = strlen(t);
    int c = memcmp(w, t, len < tl ? len : tl);
    if (c == 0) c = len < tl ? -1 : len > tl;
    if (c == 0) return true;
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return false;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

size_t reco__text_strip_year(const char *s, size_t len) {
  while (len > 0 && is_space((unsigned char)s[len - 1])) len--;
  if (len < 6 || s[len - 1] != ')') return len;
  /* find the opening parenthesis of the last group; it must hold a year (and an optional
   * range or open end), nothing else */
  size_t open = len - 1;
  while (open > 0 && s[open - 1] != '(') open--;
  if (open == 0) return len;
  const char *g = s + open, *ge = s + len - 1; /* group body */
  if (ge - g < 4 || !is_digit(g[0]) || !is_digit(g[1]) || !is_digit(g[2]) || !is_digit(g[3])) return len;
  for (const char *q = g + 4; q < ge; q++)
    if (!is_digit(*q) && *q != '-' && !is_space((unsigned char)*q) && (unsigned char)*q < 0x80) return len;
  size_t n = open - 1;
  while (n > 0 && is_space((unsigned char)s[n - 1])) n--;
  return n;
}

size_t reco__text_label(const char *s, size_t len, char *out, size_t cap) {
  size_t n = 0;
  bool space = false;
  if (cap == 0) return 0;
  for (size_t k = 0; k < len && n + 1 < cap; k++) {
    unsigned char c = (unsigned char)s[k];
    if (is_space(c)) {
      space = n > 0;
      continue;
    }
    if (space) {
      if (n + 2 >= cap) break;
      out[n++] = ' ';
      space = false;
    }
    out[n++] = lower(c);
  }
  n = utf8_cut(out, n);
  out[n] = '\0';
  return n;
}
