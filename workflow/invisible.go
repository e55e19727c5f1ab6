package workflow

import "unicode"

// invisibleRune reports whether r is a character that shows nothing, or
// changes how the text around it shows, and so could disguise it: a Unicode
// format character (category Cf: the bidi embeddings, overrides, isolates
// and marks such as U+202E and U+061C, zero-width space and joiners
// U+200B–U+200D, the word joiner, the BOM U+FEFF, the soft hyphen, tag
// characters, interlinear annotation), and the whole tag block
// U+E0000–U+E007F. The prepended concatenation marks (U+0600–U+0605 and the
// like) are Cf but visible signs, and are kept. Both the tracking file's
// text (sanitizeText) and attachment names (SafeFileName) drop these.
func invisibleRune(r rune) bool {
	switch {
	case r < '\u00AD':
		return false // ASCII and most of Latin-1: the common case
	case r >= 0xE0000 && r <= 0xE007F:
		return true
	}
	return unicode.Is(unicode.Cf, r) && !unicode.Is(unicode.Prepended_Concatenation_Mark, r)
}
