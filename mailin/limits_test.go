package mailin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// headerLines is n header fields "X-Fill-i: v" with CRLF line ends.
func headerLines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "X-Fill-%d: v\r\n", i)
	}
	return b.String()
}

// topMessage is a one-part message whose header has exactly fields fields
// (From, Subject and fillers; fields >= 2).
func topMessage(fields int) string {
	return "From: a@example.com\r\nSubject: s\r\n" + headerLines(fields-2) + "\r\nbody\r\n"
}

// nestedMessage is multipart/mixed with three parts, the third a
// multipart/mixed whose second part (part 3.2) has extra in its header.
func nestedMessage(extra string) string {
	return "From: a@example.com\r\nSubject: nested\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n" +
		"--outer\r\nContent-Type: text/plain\r\n\r\nfirst\r\n" +
		"--outer\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=a.bin\r\n\r\nAAAA\r\n" +
		"--outer\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n" +
		"--inner\r\nContent-Type: text/plain\r\n\r\ninner one\r\n" +
		"--inner\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=b.bin\r\n" + extra + "\r\nBBBB\r\n" +
		"--inner--\r\n" +
		"--outer--\r\n"
}

// wideMessage is multipart/mixed with n attachment parts.
func wideMessage(n int) string {
	var b strings.Builder
	b.WriteString("From: a@example.com\r\nSubject: wide\r\nContent-Type: multipart/mixed; boundary=w\r\n\r\n")
	for range n {
		b.WriteString("--w\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n")
	}
	b.WriteString("--w--\r\n")
	return b.String()
}

// deepMessage nests levels multiparts, the innermost holding a text part.
func deepMessage(levels int) string {
	var b strings.Builder
	b.WriteString("From: a@example.com\r\nSubject: deep\r\n")
	for i := range levels {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ndeep text\r\n")
	for i := levels - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.String()
}

// Each limit of a header block, of the parts and of the nesting: what is at
// the limit parses, one more fails with ErrLimit and the reason, and leaves
// no spool file behind.
func TestParseLimits(t *testing.T) {
	deepPath := strings.Repeat("1.", 31) + "1"
	for _, tc := range []struct {
		name   string
		raw    string
		opts   ParseOptions
		reason string // "" means it parses
	}{
		{name: "message header at the default field limit", raw: topMessage(2000)},
		{name: "message header over the default field limit", raw: topMessage(2001),
			reason: "header block of the message has over 2000 fields (limits.max_header_fields 2000)"},
		{name: "field limit from the options", raw: topMessage(11), opts: ParseOptions{MaxHeaderFields: 10},
			reason: "header block of the message has over 10 fields (limits.max_header_fields 10)"},
		{name: "continuation lines are not fields",
			raw:  "From: a@example.com\r\nSubject: s\r\n" + "X-Long: a\r\n" + strings.Repeat(" b\r\n", 3000) + "\r\nbody\r\n",
			opts: ParseOptions{MaxHeaderFields: 3}},
		{name: "LF line ends count the same", raw: strings.ReplaceAll(topMessage(11), "\r\n", "\n"), opts: ParseOptions{MaxHeaderFields: 10},
			reason: "header block of the message has over 10 fields (limits.max_header_fields 10)"},
		// "From: a@example.com\r\n" is 21 bytes, "Subject: " 9, the CRLF 2.
		{name: "message header at the byte limit", raw: "From: a@example.com\r\nSubject: " + strings.Repeat("x", 68) + "\r\n\r\nbody\r\n",
			opts: ParseOptions{MaxHeaderBytes: 100}},
		{name: "message header one byte over", raw: "From: a@example.com\r\nSubject: " + strings.Repeat("x", 69) + "\r\n\r\nbody\r\n",
			opts: ParseOptions{MaxHeaderBytes: 100}, reason: "header block of the message is over 100 bytes (limits.max_header_bytes 100)"},
		{name: "part 3.2 at the default field limit", raw: nestedMessage(headerLines(2000 - 2))},
		{name: "part 3.2 over the default field limit", raw: nestedMessage(headerLines(2000 - 1)),
			reason: "header block of part 3.2 has over 2000 fields (limits.max_header_fields 2000)"},
		{name: "part 3.2 over the default byte limit with one line", raw: nestedMessage("X-Big: " + strings.Repeat("y", 256<<10) + "\r\n"),
			reason: "header block of part 3.2 is over 262144 bytes (limits.max_header_bytes 262144)"},
		{name: "part 3.2 with LF line ends", raw: strings.ReplaceAll(nestedMessage(headerLines(10)), "\r\n", "\n"), opts: ParseOptions{MaxHeaderFields: 10},
			reason: "header block of part 3.2 has over 10 fields (limits.max_header_fields 10)"},
		{name: "1000 parts", raw: wideMessage(1000)},
		{name: "1001 parts", raw: wideMessage(1001), reason: "over 1000 MIME parts (the limit)"},
		{name: "parts are counted at every level", raw: strings.Replace(wideMessage(999), "--w--\r\n",
			"--w\r\nContent-Type: multipart/mixed; boundary=n\r\n\r\n--n\r\nContent-Type: text/plain\r\n\r\nhi\r\n--n--\r\n--w--\r\n", 1),
			reason: "over 1000 MIME parts (the limit)"},
		{name: "32 levels of multipart", raw: deepMessage(32)},
		{name: "33 levels of multipart", raw: deepMessage(33), reason: "MIME nesting deeper than 32 levels (part " + deepPath + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spool := t.TempDir()
			tc.opts.SpoolDir = spool
			in, err := Parse(strings.NewReader(tc.raw), tc.opts)
			checkParseContract(t, spool, in, err)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrLimit) || errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrLimit", err)
			}
			if err.Error() != tc.reason {
				t.Errorf("reason\n%q, want\n%q", err.Error(), tc.reason)
			}
		})
	}
}

// Lines that only look like header fields or boundaries are not counted:
// the body after a header, a preamble, an epilogue after the final boundary
// (even with delimiter lines in it), another multipart's boundary, and
// "--boundary" with more text after it.
func TestParseLimitsCountOnlyHeaders(t *testing.T) {
	many := headerLines(50)
	raw := "From: a@example.com\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		many + // preamble
		"--b\r\nContent-Type: text/plain\r\n\r\n" + many + "--bx\r\n" + many + "-- b\r\n" + many +
		"--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n" + many +
		"--c\r\nContent-Type: text/plain\r\n\r\n--cx\r\n" + many + "\r\n" +
		"--c--\r\n" + many +
		"--b--\r\n" + "--b\r\n" + many // epilogue
	spool := t.TempDir()
	in, err := Parse(strings.NewReader(raw), ParseOptions{SpoolDir: spool, MaxHeaderFields: 5})
	checkParseContract(t, spool, in, err)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !strings.Contains(in.Text, "X-Fill-49: v") {
		t.Errorf("body text lost: %q", in.Text)
	}
}

// endlessHeader gives a header block that never ends, and counts what was
// read. Past max it fails, so that a parser that reads without a bound
// ends with that error instead of running the test out of memory.
type endlessHeader struct {
	start []byte
	line  []byte
	phase int // where in line the next byte comes from
	read  int64
	max   int64
}

var errReadTooMuch = errors.New("endless header: read past the bound")

func (r *endlessHeader) Read(b []byte) (int, error) {
	if r.read >= r.max {
		return 0, errReadTooMuch
	}
	n := 0
	for n < len(b) {
		if len(r.start) > 0 {
			c := copy(b[n:], r.start)
			r.start = r.start[c:]
			n += c
			continue
		}
		c := copy(b[n:], r.line[r.phase:])
		r.phase = (r.phase + c) % len(r.line)
		n += c
	}
	r.read += int64(n)
	return n, nil
}

// The limit is enforced while the header is read: a header that never ends
// is refused after about max_header_bytes, not read (and held) whole.
func TestParseLimitsWhileReading(t *testing.T) {
	for _, tc := range []struct {
		name, start, line string
		reason            string
	}{
		{"message, many lines", "From: a@example.com\r\n", "X-A: b\r\n",
			"header block of the message has over 2000 fields (limits.max_header_fields 2000)"},
		{"message, one line", "From: a@example.com\r\nSubject: ", "xxxxxxxx",
			"header block of the message is over 262144 bytes (limits.max_header_bytes 262144)"},
		{"part, many lines", "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n", "X-A: b\r\n",
			"header block of part 1 has over 2000 fields (limits.max_header_fields 2000)"},
		{"part, folded lines", "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX-A: b\r\n", " b\r\n",
			"header block of part 1 is over 262144 bytes (limits.max_header_bytes 262144)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &endlessHeader{start: []byte(tc.start), line: []byte(tc.line), max: 64 << 20}
			spool := t.TempDir()
			in, err := Parse(r, ParseOptions{SpoolDir: spool})
			checkParseContract(t, spool, in, err)
			if !errors.Is(err, ErrLimit) || err.Error() != tc.reason {
				t.Fatalf("err = %v, want %q", err, tc.reason)
			}
			if slack := int64(64 << 10); r.read > defaultMaxHeaderBytes+slack {
				t.Errorf("read %d bytes before refusing, want at most %d", r.read, defaultMaxHeaderBytes+slack)
			}
		})
	}
}

// The gate passes every byte through unchanged, however the reads are cut.
func TestHeaderGatePassesBytes(t *testing.T) {
	raw := nestedMessage("X-A: 1\r\n")
	for _, chunk := range []int{1, 2, 3, 7, 64, 4096} {
		lim := &limits{maxBytes: 1 << 20, maxFields: 100}
		g := partsGate(&chunkReader{data: []byte(raw), n: chunk}, lim, "outer", "")
		got, err := io.ReadAll(g)
		if err != nil || !bytes.Equal(got, []byte(raw)) {
			t.Fatalf("chunks of %d: %v, bytes equal %v", chunk, err, bytes.Equal(got, []byte(raw)))
		}
		if g.part != 3 {
			t.Errorf("chunks of %d: %d parts seen, want 3", chunk, g.part)
		}
	}
	// However the reads are cut, a part header over the limit is found. The
	// gate is given all of the message as if it were the inner multipart's
	// body: only the "--inner" lines start part headers for it.
	for _, chunk := range []int{1, 2, 3, 5} {
		lim := &limits{maxBytes: 1 << 20, maxFields: 3}
		g := partsGate(&chunkReader{data: []byte(nestedMessage("X-A: 1\r\n")), n: chunk}, lim, "inner", "3")
		if _, err := io.ReadAll(g); err != nil {
			t.Fatalf("chunks of %d: %v", chunk, err)
		}
		lim = &limits{maxBytes: 1 << 20, maxFields: 3}
		g = partsGate(&chunkReader{data: []byte(nestedMessage("X-A: 1\r\nX-B: 2\r\n")), n: chunk}, lim, "inner", "3")
		if _, err := io.ReadAll(g); err == nil || err.Error() != "header block of part 3.2 has over 3 fields (limits.max_header_fields 3)" {
			t.Errorf("chunks of %d: err = %v", chunk, err)
		}
	}
}

// chunkReader gives data n bytes at a time.
type chunkReader struct {
	data []byte
	n    int
}

func (c *chunkReader) Read(b []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), c.n)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// On the test messages, the gate counts the fields of each header block as
// go-message parses them: with max_header_fields at the largest block's
// count a message parses, one less and it is over the limit.
func TestParseLimitsCountAsGoMessage(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.eml")
	dsn, _ := filepath.Glob("testdata/dsn/*.eml")
	for _, name := range append(files, dsn...) {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		most := 0
		e, err := message.Read(bytes.NewReader(raw))
		if e == nil {
			continue // not a message for go-message either
		}
		e.Walk(func(_ []int, part *message.Entity, _ error) error {
			most = max(most, part.Header.Len())
			return nil
		})
		if _, err := Parse(bytes.NewReader(raw), ParseOptions{SpoolDir: t.TempDir(), MaxHeaderFields: most}); errors.Is(err, ErrLimit) {
			t.Errorf("%s: largest header block has %d fields, yet: %v", name, most, err)
		}
		if _, err := Parse(bytes.NewReader(raw), ParseOptions{SpoolDir: t.TempDir(), MaxHeaderFields: most - 1}); most > 1 && !errors.Is(err, ErrLimit) {
			t.Errorf("%s: largest header block has %d fields; with a limit of %d: %v, want ErrLimit", name, most, most-1, err)
		}
	}
}
