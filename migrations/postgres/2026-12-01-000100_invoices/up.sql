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
    version BIGINT NOT NULL CHECK (version > 0),
    content TEXT NOT NULL,
    create_time TIMESTAMP NOT NULL,
    PRIMARY KEY (gemeente, version)
);

CREATE TABLE contract_invoicing (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    effective_from DATE NOT NULL,
    version BIGINT NOT NULL CHECK (version > 0),
    content TEXT NOT NULL,
    create_time TIMESTAMP NOT NULL,
    PRIMARY KEY (contract_id, effective_from, version)
);

CREATE TABLE invoices (
    contract_id TEXT NOT NULL,
    period_start DATE NOT NULL,
    position INTEGER NOT NULL CHECK (position IN (1, 2)),
    number TEXT NOT NULL,
    series TEXT NOT NULL CHECK (series IN ('STATEMENT', 'NOT_SUBJECT')),
    customization_id TEXT NOT NULL,
    issue_date DATE NOT NULL,
    content TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    line_total_cents BIGINT NOT NULL,
    vat_cents BIGINT NOT NULL,
    payable_cents BIGINT NOT NULL,
    issued_by TEXT NOT NULL,
    create_time TIMESTAMP NOT NULL,
    PRIMARY KEY (contract_id, period_start, position),
    UNIQUE (contract_id, number),
    FOREIGN KEY (contract_id, period_start) REFERENCES statements (contract_id, period_start)
);

CREATE TRIGGER municipalities_refuse_update_and_delete BEFORE UPDATE OR DELETE ON municipalities
    FOR EACH ROW EXECUTE FUNCTION flexsettle_refuse_change();
CREATE TRIGGER municipalities_refuse_truncate BEFORE TRUNCATE ON municipalities
    FOR EACH STATEMENT EXECUTE FUNCTION flexsettle_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON municipalities FROM PUBLIC;

CREATE TRIGGER contract_invoicing_refuse_update_and_delete BEFORE UPDATE OR DELETE ON contract_invoicing
    FOR EACH ROW EXECUTE FUNCTION flexsettle_refuse_change();
CREATE TRIGGER contract_invoicing_refuse_truncate BEFORE TRUNCATE ON contract_invoicing
    FOR EACH STATEMENT EXECUTE FUNCTION flexsettle_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON contract_invoicing FROM PUBLIC;

CREATE TRIGGER invoices_refuse_update_and_delete BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION flexsettle_refuse_change();
CREATE TRIGGER invoices_refuse_truncate BEFORE TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION flexsettle_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON invoices FROM PUBLIC;
