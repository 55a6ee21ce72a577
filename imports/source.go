package imports

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/treu-mail/treu/internal/errs"
)

// Encodings a file may be read as.
const (
	UTF8        = "utf-8"
	UTF8BOM     = "utf-8-bom"
	UTF16LE     = "utf-16le" // Excel's "Unicode text"
	UTF16BE     = "utf-16be"
	Windows1252 = "windows-1252" // what German Excel writes as "CSV (Trennzeichen-getrennt)"
)

// Format is how a file is read: found by Detect, shown in the preview.
type Format struct {
	Compression string `json:"compression,omitempty"` // "", "gzip" or "zip"
	Member      string `json:"member,omitempty"`      // the file read inside a zip
	Encoding    string `json:"encoding"`
	Comma       string `json:"comma"` // ",", ";" or "\t"
}

// fileError is a problem with the file that its owner can fix.
func fileError(format string, args ...any) error {
	return errs.Invalidf("file", format, args...)
}

// Detect reads the file at p once to learn how to read it: gzip or zip (by
// their magic bytes, not the name), the character set (a byte order mark;
// else UTF-8 if every byte of the file is valid UTF-8, else Windows-1252), and
// the separator (the one of comma, semicolon and tab the first line has most
// of).
func Detect(p string) (Format, error) {
	var f Format
	raw, member, closer, err := openRaw(p, &f)
	if err != nil {
		return f, err
	}
	defer closer()
	f.Member = member
	br := bufio.NewReaderSize(raw, 64<<10)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return f, readError(err)
	}
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		f.Encoding = UTF8BOM
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		f.Encoding = UTF16LE
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		f.Encoding = UTF16BE
	default:
		ok, err := validUTF8(br)
		if err != nil {
			return f, readError(err)
		}
		f.Encoding = UTF8
		if !ok {
			f.Encoding = Windows1252
		}
	}
	// The separator, from the first decoded line.
	f.Comma = ","
	text, closeText, err := f.Open(p)
	if err != nil {
		return f, err
	}
	defer closeText()
	line, err := bufio.NewReaderSize(text, 64<<10).ReadSlice('\n')
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return f, readError(err)
	}
	f.Comma = sniffComma(line)
	return f, nil
}

func readError(err error) error {
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat) {
		return fileError("the compressed file is damaged: %v", err)
	}
	return fmt.Errorf("imports: read: %w", err)
}

// sniffComma counts separators outside quotes: German spreadsheet programs
// write semicolons, others commas, "Unicode text" tabs.
func sniffComma(line []byte) string {
	counts := map[byte]int{}
	quoted := false
	for _, c := range line {
		switch {
		case c == '"':
			quoted = !quoted
		case !quoted && (c == ',' || c == ';' || c == '\t'):
			counts[c]++
		}
	}
	best, n := ",", 0
	for _, c := range []byte{',', ';', '\t'} {
		if counts[c] > n {
			best, n = string(c), counts[c]
		}
	}
	return best
}

// validUTF8 reports whether all of r is valid UTF-8, reading it in chunks.
func validUTF8(r io.Reader) (bool, error) {
	buf := make([]byte, 64<<10)
	carry := 0
	for {
		n, err := r.Read(buf[carry:])
		data := buf[:carry+n]
		// Keep an incomplete rune at the end for the next chunk.
		cut := len(data)
		for k := 1; k <= 3 && k <= len(data); k++ {
			if utf8.RuneStart(data[len(data)-k]) {
				if !utf8.FullRune(data[len(data)-k:]) {
					cut = len(data) - k
				}
				break
			}
		}
		if !utf8.Valid(data[:cut]) {
			return false, nil
		}
		carry = copy(buf, data[cut:])
		if errors.Is(err, io.EOF) {
			return carry == 0, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// openRaw opens the bytes of the CSV file: the file itself, its gzip stream,
// or the one CSV file inside a zip.
func openRaw(p string, f *Format) (io.Reader, string, func(), error) {
	file, err := os.Open(p)
	if err != nil {
		return nil, "", nil, fmt.Errorf("imports: open: %w", err)
	}
	var magic [4]byte
	n, _ := io.ReadFull(file, magic[:])
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		file.Close()
		return nil, "", nil, fmt.Errorf("imports: open: %w", err)
	}
	switch {
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		f.Compression = "gzip"
		zr, err := gzip.NewReader(bufio.NewReaderSize(file, 64<<10))
		if err != nil {
			file.Close()
			return nil, "", nil, fileError("the gzip file is damaged: %v", err)
		}
		return zr, "", func() { zr.Close(); file.Close() }, nil
	case n == 4 && (string(magic[:]) == "PK\x03\x04" || string(magic[:]) == "PK\x05\x06"): // a file, or an empty archive
		f.Compression = "zip"
		st, err := file.Stat()
		if err != nil {
			file.Close()
			return nil, "", nil, fmt.Errorf("imports: open: %w", err)
		}
		zr, err := zip.NewReader(file, st.Size())
		if err != nil {
			file.Close()
			return nil, "", nil, fileError("the zip file is damaged: %v", err)
		}
		m, err := zipMember(zr, f.Member)
		if err != nil {
			file.Close()
			return nil, "", nil, err
		}
		rc, err := m.Open()
		if err != nil {
			file.Close()
			return nil, "", nil, fileError("the zip file is damaged: %v", err)
		}
		return rc, m.Name, func() { rc.Close(); file.Close() }, nil
	}
	return file, "", func() { file.Close() }, nil
}

// zipMember is the file to read in a zip: the one named, else the only CSV
// or text file in it (folders and macOS resource forks left aside).
func zipMember(zr *zip.Reader, name string) (*zip.File, error) {
	var found []*zip.File
	for _, m := range zr.File {
		if m.FileInfo().IsDir() || strings.HasPrefix(m.Name, "__MACOSX/") || strings.HasPrefix(path.Base(m.Name), ".") {
			continue
		}
		if name != "" {
			if m.Name == name {
				return m, nil
			}
			continue
		}
		found = append(found, m)
	}
	if name != "" {
		return nil, fileError("the zip file no longer holds %s", name)
	}
	if len(found) > 1 {
		var csvs []*zip.File
		for _, m := range found {
			if ext := strings.ToLower(path.Ext(m.Name)); ext == ".csv" || ext == ".txt" || ext == ".tsv" {
				csvs = append(csvs, m)
			}
		}
		found = csvs
	}
	switch len(found) {
	case 0:
		return nil, fileError("the zip file holds no CSV file")
	case 1:
		return found[0], nil
	}
	return nil, fileError("the zip file holds %d CSV files; zip one file only", len(found))
}

// Open returns the file's text as UTF-8 without a byte order mark.
func (f Format) Open(p string) (io.Reader, func(), error) {
	raw, _, closer, err := openRaw(p, &f)
	if err != nil {
		return nil, nil, err
	}
	var r io.Reader = bufio.NewReaderSize(raw, 64<<10)
	switch f.Encoding {
	case UTF8BOM:
		br := r.(*bufio.Reader)
		if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
			br.Discard(3)
		}
	case UTF16LE:
		r = unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder().Reader(r)
	case UTF16BE:
		r = unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder().Reader(r)
	case Windows1252:
		r = charmap.Windows1252.NewDecoder().Reader(r)
	}
	return r, closer, nil
}
