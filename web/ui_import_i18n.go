package web

// German for the import pages' newer strings, kept beside them so that the
// main catalog (ui_i18n.go) does not change with every import feature.
var importGerman = map[string]string{
	"With a header row; commas, semicolons or tabs. UTF-8 or as saved by Excel (Windows-1252); gzip or zip compressed files too. Any size.": "Mit Kopfzeile; Kommas, Semikolons oder Tabulatoren. UTF-8 oder wie von Excel gespeichert (Windows-1252); auch mit gzip oder zip komprimiert. Beliebig groß.",
	"rows with problems":               "Zeilen mit Fehlern",
	"OK":                               "OK",
	"Columns with problems":            "Spalten mit Fehlern",
	"Lines":                            "Zeilen",
	"(the whole row)":                  "(die ganze Zeile)",
	"Starting…":                        "Startet …",
	"Continue the import":              "Import fortsetzen",
	"Read as %s.":                      "Gelesen als %s.",
	"Unpacked from gzip.":              "Aus gzip entpackt.",
	"Read from %s in the zip file.":    "Gelesen aus %s in der zip-Datei.",
	"%s rows per second":               "%s Zeilen pro Sekunde",
	"about %s left":                    "noch etwa %s",
	"UTF-8":                            "UTF-8",
	"UTF-8 (with byte order mark)":     "UTF-8 (mit Byte-Order-Mark)",
	"UTF-16 (Unicode text)":            "UTF-16 (Unicode-Text)",
	"Windows-1252 (as saved by Excel)": "Windows-1252 (wie von Excel gespeichert)",
	// The subscriber export's buttons.
	"Export all as CSV":     "Alle als CSV exportieren",
	"Export members as CSV": "Mitglieder als CSV exportieren",
}

func init() {
	for k, v := range importGerman {
		uiGerman[k] = v
	}
}
