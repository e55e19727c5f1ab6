package localmail

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
)

// capFilterListener hands out connections whose server-to-client CAPABILITY
// lists ("* CAPABILITY ..." and "[CAPABILITY ...]") lack the capabilities in
// drop. imapserver advertises some capabilities (IDLE on an IMAP4rev1
// server) whatever Options.Caps says; this takes them out on the wire. Only
// servers that drop something use it.
type capFilterListener struct {
	net.Listener
	drop []string
}

func (l *capFilterListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &capFilterConn{Conn: c, drop: l.drop}, nil
}

// capFilterConn rewrites complete response lines; the bytes of literals
// ("{n}\r\n" then n bytes, such as message bodies) pass untouched.
type capFilterConn struct {
	net.Conn
	drop []string

	mu      sync.Mutex
	line    []byte // the current response line, until its LF
	literal int64  // bytes of literal still to pass through
}

func (c *capFilterConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	var out []byte
	for len(p) > 0 {
		if c.literal > 0 {
			k := int(min(c.literal, int64(len(p))))
			out = append(out, p[:k]...)
			c.literal -= int64(k)
			p = p[k:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.line = append(c.line, p...)
			break
		}
		c.line = append(c.line, p[:i+1]...)
		p = p[i+1:]
		out = append(out, filterCapLine(c.line, c.drop)...)
		c.literal = literalSize(c.line)
		c.line = c.line[:0]
	}
	if len(out) > 0 {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// filterCapLine returns line without the capabilities in drop when it is a
// CAPABILITY response or carries a CAPABILITY response code; otherwise line.
func filterCapLine(line []byte, drop []string) []byte {
	s := string(line)
	start := -1
	if strings.HasPrefix(s, "* CAPABILITY ") {
		start = len("* CAPABILITY ")
	} else if i := strings.Index(s, "[CAPABILITY "); i >= 0 {
		start = i + len("[CAPABILITY ")
	}
	if start < 0 {
		return line
	}
	end := strings.IndexAny(s[start:], "]\r\n")
	if end < 0 {
		return line
	}
	end += start
	var kept []string
	for _, c := range strings.Fields(s[start:end]) {
		dropped := false
		for _, d := range drop {
			if strings.EqualFold(c, d) {
				dropped = true
				break
			}
		}
		if !dropped {
			kept = append(kept, c)
		}
	}
	return []byte(s[:start] + strings.Join(kept, " ") + s[end:])
}

// literalSize returns n when line ends with a literal announcement "{n}"
// (or "~{n}"), else 0.
func literalSize(line []byte) int64 {
	s := strings.TrimRight(string(line), "\r\n")
	if !strings.HasSuffix(s, "}") {
		return 0
	}
	i := strings.LastIndexByte(s, '{')
	if i < 0 {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(s[i+1:len(s)-1], "+"), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
