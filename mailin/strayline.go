package mailin

import (
	"bufio"
	"bytes"
	"io"
)

// strayLines drops, from a message's own header block, lines that are no
// header field: neither "Name: value" nor the continuation of one (a line
// that starts with white space). Broken mailers and hand-made scripts leave
// such lines, and mail clients skip them; go-message would stop reading the
// header at the first one. Everything from the blank line that ends the
// header on passes through unchanged. At most max lines are dropped: past
// that the rest passes through as it is (and the header reader fails).
type strayLines struct {
	br      *bufio.Reader
	max     int
	dropped int
	body    bool   // past the header block
	pending []byte // the rest of a line being passed on
}

func newStrayLines(r io.Reader, max int) *strayLines {
	return &strayLines{br: bufio.NewReader(r), max: max}
}

func (s *strayLines) Read(b []byte) (int, error) {
	for !s.body && len(s.pending) == 0 {
		line, err := s.br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			// A line longer than the buffer: pass it on as it is, and
			// leave it to the header reader and the limits.
			s.pending = line
			s.body = true
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
