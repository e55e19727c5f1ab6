package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/escalationd/escalationd/internal/localmail"
)

// The escalation mailbox on the in-process IMAP server.
const (
	mailboxUser = "escalations@example.com"
	mailboxPass = "bench"
)

// servers are the in-process IMAP server and SMTP sink the daemon runs
// against.
type servers struct {
	imap *localmail.IMAPServer
	smtp *localmail.SMTPServer
}

func startServers() (*servers, error) {
	im, err := localmail.StartIMAP(mailboxUser, mailboxPass, "Quarantine")
	if err != nil {
		return nil, err
	}
	sm, err := localmail.StartSMTP(localmail.SMTPOptions{})
	if err != nil {
		im.Close()
		return nil, err
	}
	return &servers{imap: im, smtp: sm}, nil
}

func (s *servers) close() {
	s.smtp.Close()
	s.imap.Close()
}

// target is where the daemon under test reads and sends mail.
type target struct {
	imapAddr, smtpAddr string // host:port, plain (no TLS)
	user, pass         string // of the escalation mailbox
}

func (s *servers) target() target {
	return target{imapAddr: s.imap.Addr, smtpAddr: s.smtp.Addr, user: mailboxUser, pass: mailboxPass}
}

// writeConfig writes a config for the daemon against t in work and returns
// its path. escalations and data are fresh folders under work.
func writeConfig(work string, t target, poll string, maxBytes int64) (string, error) {
	// Every run starts from an empty store, also in a kept -dir.
	if err := os.RemoveAll(work); err != nil {
		return "", err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", err
	}
	port := func(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }
	cfg := fmt.Sprintf(`imap:
  host: 127.0.0.1
  port: %s
  tls: none
  username: %s
  password: %s
  mailbox: INBOX
  quarantine_mailbox: Quarantine
  poll_interval: %s
  idle: true
smtp:
  host: 127.0.0.1
  port: %s
  tls: none
  from: "Escalations <escalations@example.com>"
  retry_min: 1s
  retry_max: 4s
escalation:
  address: escalations@example.com
  id_prefix: ESC
  dir: %s
  data_dir: %s
  timer_tick: 1h
limits:
  max_message_bytes: %d
  acks_per_sender_per_hour: 100000
  acks_per_domain_per_hour: 100000
  acks_per_hour: 100000
  notifications_per_hour: 100000
staff:
  domains: [example.com]
roster: {technical: {}, executive: {}, vendor: {}}
`, port(t.imapAddr), t.user, t.pass, poll, port(t.smtpAddr),
		filepath.Join(work, "escalations"), filepath.Join(work, "data"), maxBytes)
	path := filepath.Join(work, "config.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o644)
}
