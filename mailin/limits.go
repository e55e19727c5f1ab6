package mailin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrLimit marks a message over a parser limit (§11): a header block over
// limits.max_header_bytes or limits.max_header_fields, more than maxParts
// MIME parts, or multipart nesting deeper than maxDepth. The caller
// quarantines such a message; retrying cannot help.
var ErrLimit = errors.New("mailin: message over a parser limit")

const (
	defaultMaxHeaderBytes  = 256 << 10
	defaultMaxHeaderFields = 2000
	maxDepth               = 32   // multipart levels followed; one more is over the limit
	maxParts               = 1000 // MIME parts in all (leaves and multiparts below the message)
)

// limitError is the error of a message over a parser limit: it matches
// ErrLimit, and its text is the reason the message is quarantined.
type limitError struct{ reason string }

func (e *limitError) Error() string        { return e.reason }
func (e *limitError) Is(target error) bool { return target == ErrLimit }

// limits is what the gates of one Parse call share: the bounds, and the
// first limit found exceeded. A gate that trips returns that error from Read;
// go-message reports it in its own words (or not at all), so the parser looks
// here after every step instead of at the error it was given.
type limits struct {
	maxBytes  int64
	maxFields int
	err       error
}

func (l *limits) trip(format string, args ...any) error {
	if l.err == nil {
		l.err = &limitError{reason: fmt.Sprintf(format, args...)}
	}
	return l.err
}

// gateMode is where in its stream a headerGate is.
type gateMode int

const (
	gateBody   gateMode = iota // in a preamble or part body: watching line starts for the boundary
	gateHeader                 // in a header block: counting its bytes and fields
	gateOpen                   // past the last header it guards: passing bytes through
)

// headerGate sits in front of go-message's header parsing and counts, while
// the bytes stream through it, the bytes and fields of each header block: the
// message's own (a gate with no boundary, which opens after that header), or
// the header of each part of one multipart (a gate over the multipart's body
// that finds the parts by their boundary lines, as go-message does). The
// moment a block goes over a limit, Read fails: no header is ever held whole
// before it is checked, so a part with millions of header lines costs at most
// the limit (plus go-message's 4 KiB read-ahead) before it is refused.
//
// It recognises every line go-message takes for a delimiter ("--boundary",
// optional blanks, line end) and a few it does not (a bare LF line end after
// CRLF ones); counting a body line as a header line can only count more, never
// less. A line starting "--boundary--" ends the multipart for go-message, so
// the gate opens there.
type headerGate struct {
	r      io.Reader
	lim    *limits
	dashB  []byte // "--" + boundary; nil for the message's header
	prefix string // "" for the message's header, else the multipart's part number and a dot ("", "2.")
	mode   gateMode
	part   int // parts seen; the header being read is part prefix+part

	// The header block being read.
	bytes, fields int64
	lineLen       int64 // bytes of the current line seen so far
	lineFirst     byte  // its first byte
	// The body line being read: where in it the gate is, and how much of
	// "--boundary" its start matched, then what followed the match.
	line  lineState
	match int
	tail  tailState
}

// lineState is where in a body line a headerGate is.
type lineState int

const (
	linePrefix lineState = iota // at its start, matching "--boundary"
	lineTail                    // past "--boundary": is it a delimiter line?
	lineSkip                    // not a boundary line: skipping to its end
)

// tailState is what follows "--boundary" at the start of a body line.
type tailState int

const (
	tailNone  tailState = iota // nothing yet
	tailBlank                  // blanks only
	tailCR                     // blanks, then CR: a delimiter if LF follows
	tailDash                   // one '-': "--boundary--" if another follows
)

// messageGate guards the message's own header block.
func messageGate(r io.Reader, lim *limits) *headerGate {
	return &headerGate{r: r, lim: lim, mode: gateHeader}
}

// partsGate guards the part headers of the multipart whose body is r, whose
// boundary is boundary and whose part number is path ("" for the message).
func partsGate(r io.Reader, lim *limits, boundary, path string) *headerGate {
	prefix := ""
	if path != "" {
		prefix = path + "."
	}
	return &headerGate{r: r, lim: lim, dashB: []byte("--" + boundary), prefix: prefix, mode: gateBody}
}

func (g *headerGate) Read(b []byte) (int, error) {
	if g.lim.err != nil {
		return 0, g.lim.err
	}
	n, err := g.r.Read(b)
	if g.mode != gateOpen {
		if lerr := g.scan(b[:n]); lerr != nil {
			return 0, lerr
		}
	}
	return n, err
}

// where names the header block being read, for the reason.
func (g *headerGate) where() string {
	if g.dashB == nil {
		return "header block of the message"
	}
	return fmt.Sprintf("header block of part %s%d", g.prefix, g.part)
}

// scan follows b through the modes and trips the limits.
func (g *headerGate) scan(b []byte) error {
	for len(b) > 0 {
		switch g.mode {
		case gateOpen:
			return nil
		case gateHeader:
			var err error
			if b, err = g.scanHeader(b); err != nil {
				return err
			}
		case gateBody:
			b = g.scanBody(b)
		}
	}
	return nil
}

// scanHeader counts header lines in b up to the blank line that ends the
// block, and returns the rest of b. A line that does not start with a blank
// starts a field; it is counted as it starts (one starting with CR, once it
// is known not to be the blank line "\r\n").
func (g *headerGate) scanHeader(b []byte) ([]byte, error) {
	for len(b) > 0 {
		if g.lineLen == 0 {
			g.lineFirst = b[0]
			if c := b[0]; c != ' ' && c != '\t' && c != '\r' && c != '\n' {
				if err := g.countField(); err != nil {
					return nil, err
				}
			}
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			g.lineLen += int64(len(b))
			g.bytes += int64(len(b))
			if g.lineFirst == '\r' && g.lineLen > 1 {
				g.lineFirst = 0 // a field after all ("\rX: y"): count it now
				if err := g.countField(); err != nil {
					return nil, err
				}
			}
			return nil, g.checkBytes()
		}
		// A blank line ("\n" or "\r\n") ends the block.
		length := g.lineLen + int64(i) // without the LF
		blank := length == 0 || length == 1 && g.lineFirst == '\r'
		if g.lineFirst == '\r' && !blank {
			if err := g.countField(); err != nil {
				return nil, err
			}
		}
		g.bytes += int64(i + 1)
		g.lineLen = 0
		b = b[i+1:]
		if blank {
			g.bytes, g.fields = 0, 0
			if g.dashB == nil {
				g.mode = gateOpen
			} else {
				g.mode, g.line, g.match = gateBody, linePrefix, 0
			}
			return b, nil
		}
		if err := g.checkBytes(); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (g *headerGate) countField() error {
	g.fields++
	if g.fields > int64(g.lim.maxFields) {
		return g.lim.trip("%s has over %d fields (limits.max_header_fields %d)", g.where(), g.lim.maxFields, g.lim.maxFields)
	}
	return nil
}

func (g *headerGate) checkBytes() error {
	if g.bytes > g.lim.maxBytes {
		return g.lim.trip("%s is over %d bytes (limits.max_header_bytes %d)", g.where(), g.lim.maxBytes, g.lim.maxBytes)
	}
	return nil
}

// scanBody looks at the start of each line of b for "--boundary" and what
// follows it, and returns the rest of b once a delimiter line starts a header
// block (or the final boundary opens the gate).
func (g *headerGate) scanBody(b []byte) []byte {
	for len(b) > 0 {
		if g.line == lineSkip {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return nil
			}
			b = b[i+1:]
			g.line, g.match = linePrefix, 0
			continue
		}
		c := b[0]
		b = b[1:]
		if g.line == linePrefix {
			switch {
			case c == g.dashB[g.match]:
				g.match++
				if g.match == len(g.dashB) {
					g.line, g.tail = lineTail, tailNone
				}
			case c == '\n':
				g.match = 0
			default:
				g.line = lineSkip
			}
			continue
		}
		switch {
		case c == '-' && g.tail == tailNone:
			g.tail = tailDash
		case c == '-' && g.tail == tailDash:
			g.mode = gateOpen // "--boundary--": the multipart ends here
			return nil
		case (c == ' ' || c == '\t') && (g.tail == tailNone || g.tail == tailBlank):
			g.tail = tailBlank
		case c == '\r' && (g.tail == tailNone || g.tail == tailBlank):
			g.tail = tailCR
		case c == '\n' && g.tail != tailDash:
			g.part++
			g.line, g.match = linePrefix, 0
			g.mode, g.lineLen, g.bytes, g.fields = gateHeader, 0, 0, 0
			return b
		case c == '\n':
			g.line, g.match = linePrefix, 0
		default:
			g.line = lineSkip
		}
	}
	return nil
}
