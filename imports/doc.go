// Package imports brings subscribers in from CSV files with proven consent:
// the UI's import pages and `treu import FILE` share it.
//
// A file becomes a job (table import_jobs, the only table this package
// writes): it is kept in the data folder (streamed, any size; gzip and zip
// are unpacked on the fly), read once to learn its character set (UTF-8,
// UTF-16 with a byte order mark, else Windows-1252 as German Excel writes)
// and separator, and its header is mapped to email, name, language and
// attributes. A dry run (Check) judges every row as the import will and names
// each broken column with its rows. Run then imports the rows in batches;
// each batch and the job's checkpoint commit together, so a job resumed after
// a crash or kill -9 neither repeats nor skips a row. A running job is held
// with a lease (owner, lease_until); an instance that stops gives it up and
// any instance may resume a lapsed one (Lapsed).
//
// Enrollment itself, and its rules, stay in package subscribers
// (subscribers.Importer): imported subscribers are active at once with an
// "imported" consent record; an erased address is refused.
package imports
