-- Invoices a municipality's finance system can book (DESIGN.md §9). Every table is only ever
-- inserted into: a change of party data or of a contract's invoicing data is a new version,
-- and an issued invoice document is never edited.
--
-- municipalities: a municipality's party data (domain::invoice::Buyer as canonical JSON), one
-- row per version; an invoice carries the latest version when it is issued.
-- contract_invoicing: a contract's invoicing data (domain::invoice::InvoicingTerms), in force
-- from effective_from; the latest version of the latest effective_from on or before a
-- statement's period start applies to it.
-- invoices: the UBL documents of a statement, as issued, with their SHA-256.

CREATE TABLE municipalities (
    gemeente TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version > 0),
    content TEXT NOT NULL,
    create_time TEXT NOT NULL,
    PRIMARY KEY (gemeente, version)
) STRICT;

CREATE TABLE contract_invoicing (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    effective_from TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version > 0),
    content TEXT NOT NULL,
    create_time TEXT NOT NULL,
    PRIMARY KEY (contract_id, effective_from, version)
) STRICT;

CREATE TABLE invoices (
    contract_id TEXT NOT NULL,
    period_start TEXT NOT NULL,
    position INTEGER NOT NULL CHECK (position IN (1, 2)),
    number TEXT NOT NULL,
    series TEXT NOT NULL CHECK (series IN ('STATEMENT', 'NOT_SUBJECT')),
    customization_id TEXT NOT NULL,
    issue_date TEXT NOT NULL,
    content TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    line_total_cents INTEGER NOT NULL,
    vat_cents INTEGER NOT NULL,
    payable_cents INTEGER NOT NULL,
    issued_by TEXT NOT NULL,
    create_time TEXT NOT NULL,
    PRIMARY KEY (contract_id, period_start, position),
    UNIQUE (contract_id, number),
    FOREIGN KEY (contract_id, period_start) REFERENCES statements (contract_id, period_start)
) STRICT;


CREATE TRIGGER municipalities_refuse_update BEFORE UPDATE ON municipalities
BEGIN
    SELECT RAISE(ABORT, 'municipalities is append-only: UPDATE refused');
END;

CREATE TRIGGER municipalities_refuse_delete BEFORE DELETE ON municipalities
BEGIN
    SELECT RAISE(ABORT, 'municipalities is append-only: DELETE refused');
END;

CREATE TRIGGER contract_invoicing_refuse_update BEFORE UPDATE ON contract_invoicing
BEGIN
    SELECT RAISE(ABORT, 'contract_invoicing is append-only: UPDATE refused');
END;

CREATE TRIGGER contract_invoicing_refuse_delete BEFORE DELETE ON contract_invoicing
BEGIN
    SELECT RAISE(ABORT, 'contract_invoicing is append-only: DELETE refused');
END;

CREATE TRIGGER invoices_refuse_update BEFORE UPDATE ON invoices
BEGIN
    SELECT RAISE(ABORT, 'invoices is append-only: UPDATE refused');
END;

CREATE TRIGGER invoices_refuse_delete BEFORE DELETE ON invoices
BEGIN
    SELECT RAISE(ABORT, 'invoices is append-only: DELETE refused');
END;
