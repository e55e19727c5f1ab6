package mailin

import (
	"bufio"
	"bytes"
	"io"
)

// strayLines drops, from a message's own header block, what mail clients
// skip and go-message would stop at:
//   - a leading mbox envelope line ("From jdoe@example.com Thu Oct 12
//     10:21:00 2023", or its quoted form ">From …") that mbox tools and
//     importers leave on a message;
//   - lines that are no header field: neither "Name: value" nor the
//     continuation of one (a line that starts with white space), as broken
//     mailers and hand-made scripts write them.
//
// Everything from the blank line that ends the header on passes through
// unchanged. At most max stray lines are dropped: past that the rest passes
// through as it is (and the header reader fails). A line longer than the
// buffer passes as it is too, left to the header reader and the limits.
type strayLines struct {
	br       *bufio.Reader
	max      int
	envelope bool // a leading envelope line was dropped
	dropped  int  // stray lines dropped after it
	started  bool // the first line was read
	body     bool // past the header block
	pending  []byte
}

// strayBuffer is the longest line strayLines looks at.
const strayBuffer = 8 << 10

func newStrayLines(r io.Reader, max int) *strayLines {
	return &strayLines{br: bufio.NewReaderSize(r, strayBuffer), max: max}
}

func (s *strayLines) Read(b []byte) (int, error) {
	for !s.body && len(s.pending) == 0 {
		line, err := s.br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			s.pending = line
			s.body = true
		case !s.started && (bytes.HasPrefix(line, []byte("From ")) || bytes.HasPrefix(line, []byte(">From "))):
			s.envelope = true
		case len(line) == 0 && err != nil:
			return 0, err
		case bytes.Equal(bytes.TrimRight(line, "\r\n"), nil):
			s.pending = line
			s.body = true
		case line[0] == ' ' || line[0] == '\t' || bytes.IndexByte(line, ':') > 0 || s.dropped >= s.max:
			s.pending = line
		default:
			s.dropped++
		}
		s.started = true
		if err != nil && len(s.pending) == 0 {
			return 0, err
		}
	}
	if len(s.pending) > 0 {
		n := copy(b, s.pending)
		s.pending = s.pending[n:]
		if len(s.pending) == 0 {
			s.pending = nil
		}
		return n, nil
	}
	return s.br.Read(b)
}
