package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Event is one server-sent event (the text/event-stream format of the HTML
// standard, as MCP's Streamable HTTP transport uses it).
type Event struct {
	// ID is the event's id field; HasID tells an empty id from none.
	ID    string
	HasID bool
	Name  string
	Data  []byte
	// Retry is the reconnection delay the server asked for (0: none).
	Retry time.Duration
}

// ErrEventTooLarge reports an event whose data is larger than the limit.
var ErrEventTooLarge = errors.New("server-sent event is larger than the limit")

// SSEReader reads server-sent events from a stream, each at most a limit of
// bytes (a server must not make toolgate hold an unbounded event).
type SSEReader struct {
	br    *bufio.Reader
	limit int
}

// NewSSEReader reads events of at most limit bytes from r.
func NewSSEReader(r io.Reader, limit int) *SSEReader {
	return &SSEReader{br: bufio.NewReaderSize(r, 32<<10), limit: limit}
}

// Next returns the next event that has data or an id. At the end of the
// stream it returns io.EOF; an event cut off by the end is dropped, as the
// standard says.
func (r *SSEReader) Next() (Event, error) {
	var ev Event
	var data bytes.Buffer
	hasData := false
	for {
		line, err := r.readLine()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 { // blank line: dispatch
			if hasData || ev.HasID || ev.Retry > 0 {
				ev.Data = data.Bytes()
				return ev, nil
			}
			ev = Event{}
			continue
		}
		if line[0] == ':' { // comment (keep-alive)
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			if data.Len()+len(value)+1 > r.limit {
				return Event{}, fmt.Errorf("%w of %d bytes", ErrEventTooLarge, r.limit)
			}
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 { // an id with NUL is ignored
				ev.ID, ev.HasID = string(value), true
			}
		case "event":
			ev.Name = string(value)
		case "retry":
			if ms, err := strconv.ParseUint(string(value), 10, 31); err == nil {
				ev.Retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// readLine reads one line without its ending (\n or \r\n), at most the
// limit plus a little for the field name.
func (r *SSEReader) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > r.limit+64 {
			return nil, fmt.Errorf("%w of %d bytes", ErrEventTooLarge, r.limit)
		}
		switch {
		case err == nil:
			line = line[:len(line)-1]
			return bytes.TrimSuffix(line, []byte("\r")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) > 0:
			// A last line without an ending cannot complete an event.
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

// WriteEvent writes one event with an id (may be empty) and JSON data on
// one line (a JSON-RPC message never holds a raw newline outside strings,
// and inside strings newlines are escaped).
func WriteEvent(w io.Writer, id string, data []byte) error {
	var b bytes.Buffer
	b.Grow(len(data) + len(id) + 24)
	b.WriteString("event: message\n")
	if id != "" {
		b.WriteString("id: ")
		b.WriteString(id)
		b.WriteByte('\n')
	}
	// Compact JSON has no newline; a pretty-printed message is split into
	// data lines, which the reader joins back with "\n".
	for _, l := range bytes.Split(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(bytes.TrimSuffix(l, []byte("\r")))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}
