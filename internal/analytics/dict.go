package analytics

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
)

// Dictionary is the recogniser's pronunciation dictionary: which words it
// can spot, and their phones (a phrase's length, which its threshold
// depends on).
type Dictionary struct {
	entries map[string][]string // word → pronunciation lines, as in the file
	phones  map[string]int      // word → phones of its shortest pronunciation
}

// LoadDictionary reads a CMU-format dictionary ("word PH O NE S", variants
// as "word(2) …").
func LoadDictionary(path string) (*Dictionary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the recogniser's dictionary: %w", err)
	}
	defer f.Close()
	d, err := ReadDictionary(f)
	if err != nil {
		return nil, fmt.Errorf("cannot read the recogniser's dictionary %s: %w", path, err)
	}
	return d, nil
}

// ReadDictionary parses a CMU-format dictionary.
func ReadDictionary(r io.Reader) (*Dictionary, error) {
	d := &Dictionary{entries: map[string][]string{}, phones: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 4096)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, ";;") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		word := fields[0]
		if i := strings.IndexByte(word, '('); i > 0 && strings.HasSuffix(word, ")") {
			word = word[:i]
		}
		n := len(fields) - 1
		d.entries[word] = append(d.entries[word], strings.Join(fields, " "))
		if old, ok := d.phones[word]; !ok || n < old {
			d.phones[word] = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(d.phones) == 0 {
		return nil, fmt.Errorf("no words")
	}
	return d, nil
}

// Len is the number of words.
func (d *Dictionary) Len() int { return len(d.phones) }

// Phones returns a word's phone count (its shortest pronunciation).
func (d *Dictionary) Phones(word string) (int, bool) {
	n, ok := d.phones[word]
	return n, ok
}

// subset is the dictionary of the given words only, in the file's
// format: what the recogniser is given, so it loads in milliseconds and
// a few megabytes instead of reading 134,000 words.
func (d *Dictionary) subset(words []string) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, w := range words {
		if seen[w] {
			continue
		}
		seen[w] = true
		for _, line := range d.entries[w] {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Words splits a phrase as the recogniser reads it: lower case, letters,
// digits and apostrophes kept, everything else a separator.
func Words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'')
	})
}
