package jsonrpc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// TooLargeError reports a line longer than the reader's limit. The line has
// been read to its end and dropped; Prefix is its first bytes (up to the
// limit), from which the id may be recovered (RecoverID).
type TooLargeError struct {
	Size   int // bytes read, at least the limit plus one
	Limit  int
	Prefix []byte
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("message of %d bytes is larger than the limit of %d bytes", e.Size, e.Limit)
}

// JSONRPC returns the JSON-RPC error that answers the dropped message.
func (e *TooLargeError) JSONRPC() *Error {
	return &Error{ID: recoverID(e.Prefix), Code: CodeInvalidRequest, Message: e.Error()}
}

// Reader reads newline-delimited messages (the MCP stdio framing), at most
// Limit bytes each.
type Reader struct {
	br    *bufio.Reader
	limit int
}

// NewReader reads from r with the given per-message limit.
func NewReader(r io.Reader, limit int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), limit: limit}
}

// Next returns the next line that is not blank, without its line ending, in
// a new slice. A line longer than the limit is read to its end, dropped and
// reported as *TooLargeError; the next call reads the line after it, so one
// bad message loses nothing else. At the end of the input Next returns
// io.EOF (a last line without a newline is returned first).
func (r *Reader) Next() ([]byte, error) {
	for {
		line, err := r.readLine()
		if len(bytes.TrimSpace(line)) == 0 && err == nil {
			continue
		}
		if err != nil {
			var tl *TooLargeError
			if errors.As(err, &tl) {
				return nil, err
			}
			if len(bytes.TrimSpace(line)) > 0 && err == io.EOF {
				return line, nil
			}
			return nil, err
		}
		return line, nil
	}
}

// readLine reads one line, holding at most limit bytes of it.
func (r *Reader) readLine() ([]byte, error) {
	var line []byte
	size := 0
	var tail []byte // the line's last two bytes, to find its ending
	for {
		chunk, err := r.br.ReadSlice('\n')
		size += len(chunk)
		if len(line) < r.limit+2 { // +2: room for "\r\n"
			room := r.limit + 2 - len(line)
			line = append(line, chunk[:min(len(chunk), room)]...)
		}
		tail = append(tail, chunk[max(0, len(chunk)-2):]...)
		tail = tail[max(0, len(tail)-2):]
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil && !(err == io.EOF && size > 0):
			return nil, err
		}
		// The body is the line without "\n" or "\r\n".
		n := size
		if bytes.HasSuffix(tail, []byte("\n")) {
			n--
			if bytes.HasSuffix(tail, []byte("\r\n")) {
				n--
			}
		}
		if n > r.limit {
			return nil, &TooLargeError{Size: n, Limit: r.limit, Prefix: line[:min(len(line), r.limit)]}
		}
		body := line[:n]
		if err == io.EOF {
			return body, io.EOF
		}
		return body, nil
	}
}

// Writer writes newline-delimited messages; it is safe for concurrent use,
// and each message goes out in one Write so that messages never interleave.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewWriter writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write sends one message. msg must not contain a newline (messages read by
// Reader and encoded by encoding/json never do).
func (w *Writer) Write(msg []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(append(w.buf[:0], msg...), '\n')
	_, err := w.w.Write(w.buf)
	if cap(w.buf) > 1<<20 {
		w.buf = nil // do not keep a large buffer after one large message
	}
	return err
}
