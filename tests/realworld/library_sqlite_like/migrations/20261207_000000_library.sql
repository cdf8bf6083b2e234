-- Description: a school library's catalogue and loans (campuses, subjects, books, authors, branches, staff, members, copies, loans), each table stamped by two last_update triggers
/*
  School library, first schema.
  Every table keeps last_update: two triggers per table set it to the time of the
  insert or of the change, whatever the application gave.
  Written for malnu-tui's tests (tests/realworld/README.md).
*/

-- campus: where the library has rooms (last_update may be NULL here)
--DROP TABLE campus;
CREATE TABLE campus (
    campus_id   INTEGER NOT NULL,
    name        VARCHAR(60) NOT NULL,
    street      VARCHAR(80) DEFAULT NULL,
    last_update TIMESTAMP,
    PRIMARY KEY (campus_id)
);

CREATE TRIGGER campus_stamp_insert AFTER INSERT ON campus
BEGIN
    UPDATE campus SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

CREATE TRIGGER campus_stamp_update AFTER UPDATE ON campus
BEGIN
    UPDATE campus SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

-- subject: the shelf a book stands on
CREATE TABLE subject (
    subject_id  INTEGER NOT NULL,
    name        CHAR(20) NOT NULL,
    shelf_mark  VARCHAR(8) DEFAULT NULL,
    last_update TIMESTAMP NOT NULL,
    PRIMARY KEY (subject_id)
);

CREATE  UNIQUE INDEX ux_subject_name ON subject(name);

CREATE TRIGGER subject_stamp_insert AFTER INSERT ON subject
BEGIN
    UPDATE subject SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

CREATE TRIGGER subject_stamp_update AFTER UPDATE ON subject
BEGIN
    UPDATE subject SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

-- book: one title of the catalogue (its copies are in copy)
CREATE TABLE book (
    book_id          INTEGER NOT NULL,
    title            VARCHAR(200) NOT NULL,
    synopsis         BLOB SUB_TYPE TEXT DEFAULT NULL,
    published_year   VARCHAR(4) DEFAULT NULL,
    subject_id       INT NOT NULL,
    second_subject_id INT DEFAULT NULL,
    loan_days        SMALLINT DEFAULT 14 NOT NULL,
    late_fee         DECIMAL(4,2) DEFAULT 0.25 NOT NULL,
    pages            SMALLINT DEFAULT NULL,
    price            DECIMAL(6,2) DEFAULT 9.75 NOT NULL,
    reading_level    VARCHAR(12) DEFAULT 'all',
    formats          VARCHAR(60) DEFAULT NULL,
    last_update      TIMESTAMP NOT NULL,
    PRIMARY KEY (book_id),
    CONSTRAINT ck_book_level CHECK (reading_level IN ('early', 'primary', 'middle', 'senior', 'all')),
    CONSTRAINT ck_book_formats CHECK (formats IS NULL
        OR formats LIKE '%print%'
        OR formats LIKE '%large type%'
        OR formats LIKE '%audio%'
        OR formats LIKE '%braille%'),
    CONSTRAINT fk_book_subject FOREIGN KEY (subject_id) REFERENCES subject (subject_id) ON DELETE NO ACTION ON UPDATE CASCADE,
    CONSTRAINT fk_book_second_subject FOREIGN KEY (second_subject_id) REFERENCES subject (subject_id)
);

CREATE  INDEX ix_book_subject ON book(subject_id);
CREATE  INDEX ix_book_second_subject ON book(second_subject_id);
CREATE  INDEX ix_book_title ON book(title) ;

CREATE TRIGGER book_stamp_insert AFTER INSERT ON book
BEGIN
    UPDATE book SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

CREATE TRIGGER book_stamp_update AFTER UPDATE ON book
BEGIN
    UPDATE book SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

-- book_author: who wrote which book (author is created after it)
CREATE TABLE book_author (
    book_id     INT NOT NULL,
    author_id   INT NOT NULL,
    role        VARCHAR(12) DEFAULT 'author' NOT NULL,
    last_update TIMESTAMP NOT NULL,
    PRIMARY KEY (book_id, author_id),
    CONSTRAINT ck_book_author_role CHECK (role IN ('author', 'editor', 'translator', 'illustrator')),
    CONSTRAINT fk_book_author_book FOREIGN KEY (book_id) REFERENCES book (book_id) ON DELETE NO ACTION ON UPDATE CASCADE,
    CONSTRAINT fk_book_author_author FOREIGN KEY (author_id) REFERENCES author (author_id) ON DELETE NO ACTION ON UPDATE CASCADE
);

CREATE  INDEX ix_book_author_author ON book_author(author_id);

CREATE TRIGGER book_author_stamp_insert AFTER INSERT ON book_author
BEGIN
    UPDATE book_author SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

CREATE TRIGGER book_author_stamp_update AFTER UPDATE ON book_author
BEGIN
    UPDATE book_author SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

-- author
CREATE TABLE author (
    author_id   INTEGER NOT NULL,
    given_name  VARCHAR(50) NOT NULL,
    family_name VARCHAR(50) NOT NULL,
    born_year   SMALLINT DEFAULT NULL,
    last_update TIMESTAMP NOT NULL,
    PRIMARY KEY (author_id)
);

CREATE  INDEX ix_author_family_name ON author(family_name);

CREATE TRIGGER author_stamp_insert AFTER INSERT ON author
BEGIN
    UPDATE author SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

CREATE TRIGGER author_stamp_update AFTER UPDATE ON author
BEGIN
    UPDATE author SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

-- branch: a library room; its head is a member of staff, and every member of staff works in
-- a branch (both NOT NULL: a cycle, staff is created after it)
CREATE TABLE branch (
    branch_id     INTEGER NOT NULL,
    campus_id     INT NOT NULL,
    head_staff_id INT NOT NULL,
    room          VARCHAR(20) NOT NULL,
    opens_at      VARCHAR(5) DEFAULT '07:00' NOT NULL,
    last_update   TIMESTAMP NOT NULL,
    PRIMARY KEY (branch_id),
    CONSTRAINT fk_branch_campus FOREIGN KEY (campus_id) REFERENCES campus (campus_id) ON DELETE NO ACTION ON UPDATE CASCADE,
    CONSTRAINT fk_branch_head FOREIGN KEY (head_staff_id) REFERENCES staff (staff_id)
);

CREATE  INDEX ix_branch_campus ON branch(campus_id);
CREATE  INDEX ix_branch_head ON branch(head_staff_id);

CREATE TRIGGER branch_stamp_insert AFTER INSERT ON branch
BEGIN
    UPDATE branch SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

CREATE TRIGGER branch_stamp_update AFTER UPDATE ON branch
BEGIN
    UPDATE branch SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

-- staff
CREATE TABLE staff (
    staff_id    INTEGER NOT NULL,
    given_name  VARCHAR(50) NOT NULL,
    family_name VARCHAR(50) NOT NULL,
    branch_id   INT NOT NULL,
    photo       BLOB DEFAULT NULL,
    email       VARCHAR(80) DEFAULT NULL,
    on_duty     SMALLINT DEFAULT 1 NOT NULL,
    login       VARCHAR(16) NOT NULL,
    pin_hash    VARCHAR(64) DEFAULT NULL,
    last_update TIMESTAMP NOT NULL,
    PRIMARY KEY (staff_id),
    CONSTRAINT ck_staff_on_duty CHECK (on_duty IN (0, 1)),
    CONSTRAINT fk_staff_branch FOREIGN KEY (branch_id) REFERENCES branch (branch_id) ON DELETE NO ACTION ON UPDATE CASCADE
);

CREATE  UNIQUE INDEX ux_staff_login ON staff(login);
CREATE  INDEX ix_staff_branch ON staff(branch_id);

CREATE TRIGGER staff_stamp_insert AFTER INSERT ON staff
BEGIN
    UPDATE staff SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

CREATE TRIGGER staff_stamp_update AFTER UPDATE ON staff
BEGIN
    UPDATE staff SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

-- member: a pupil or teacher with a library card
CREATE TABLE member (
    member_id      INTEGER NOT NULL,
    card_no        CHAR(20) NOT NULL,
    given_name     VARCHAR(50) NOT NULL,
    family_name    VARCHAR(50) DEFAULT NULL,
    class_name     VARCHAR(10) DEFAULT NULL,
    home_branch_id INT NOT NULL,
    max_loans      SMALLINT DEFAULT 3 NOT NULL,
    balance        DECIMAL(4,2) DEFAULT 0 NOT NULL,
    last_update    TIMESTAMP NOT NULL,
    PRIMARY KEY (member_id),
    CONSTRAINT ck_member_max_loans CHECK (max_loans BETWEEN 0 AND 12),
    CONSTRAINT fk_member_branch FOREIGN KEY (home_branch_id) REFERENCES branch (branch_id) ON DELETE NO ACTION ON UPDATE CASCADE
);

CREATE  UNIQUE INDEX ux_member_card ON member(card_no);
CREATE  INDEX ix_member_branch ON member(home_branch_id);

CREATE TRIGGER member_stamp_insert AFTER INSERT ON member
BEGIN
    UPDATE member SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

CREATE TRIGGER member_stamp_update AFTER UPDATE ON member
BEGIN
    UPDATE member SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

-- copy: one copy of a book, kept at a branch
CREATE TABLE copy (
    copy_id     INTEGER NOT NULL,
    book_id     INT NOT NULL,
    branch_id   INT NOT NULL,
    barcode     CHAR(20) NOT NULL,
    condition   VARCHAR(8) DEFAULT 'good' NOT NULL,
    last_update TIMESTAMP NOT NULL,
    PRIMARY KEY (copy_id),
    CONSTRAINT ck_copy_condition CHECK (condition IN ('new', 'good', 'worn', 'repair', 'lost')),
    CONSTRAINT fk_copy_book FOREIGN KEY (book_id) REFERENCES book (book_id) ON DELETE NO ACTION ON UPDATE CASCADE,
    CONSTRAINT fk_copy_branch FOREIGN KEY (branch_id) REFERENCES branch (branch_id) ON DELETE NO ACTION ON UPDATE CASCADE
);

CREATE  INDEX ix_copy_book ON copy(book_id);
CREATE  INDEX ix_copy_branch ON copy(branch_id);

CREATE TRIGGER copy_stamp_insert AFTER INSERT ON copy
BEGIN
    UPDATE copy SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

CREATE TRIGGER copy_stamp_update AFTER UPDATE ON copy
BEGIN
    UPDATE copy SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

-- loan: a copy lent to a member; the same copy again on the same day is a renewal (the key)
CREATE TABLE loan (
    copy_id     INT NOT NULL,
    loaned_on   DATE NOT NULL,
    member_id   INT NOT NULL,
    staff_id    INT NOT NULL,
    due_on      DATE NOT NULL,
    returned_on DATE DEFAULT NULL,
    fine        DECIMAL(4,2) DEFAULT NULL,
    last_update TIMESTAMP NOT NULL,
    PRIMARY KEY (copy_id, loaned_on),
    CONSTRAINT ck_loan_due CHECK (due_on >= loaned_on),
    CONSTRAINT ck_loan_fine CHECK (fine IS NULL OR fine >= 0),
    CONSTRAINT fk_loan_copy FOREIGN KEY (copy_id) REFERENCES copy (copy_id) ON DELETE NO ACTION ON UPDATE CASCADE,
    CONSTRAINT fk_loan_member FOREIGN KEY (member_id) REFERENCES member (member_id) ON DELETE NO ACTION ON UPDATE CASCADE,
    CONSTRAINT fk_loan_staff FOREIGN KEY (staff_id) REFERENCES staff (staff_id)
);

CREATE  INDEX ix_loan_member ON loan(member_id);
CREATE  INDEX ix_loan_staff ON loan(staff_id);
CREATE  INDEX ix_loan_due ON loan(due_on, returned_on);

CREATE TRIGGER loan_stamp_insert AFTER INSERT ON loan
BEGIN
    UPDATE loan SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;

CREATE TRIGGER loan_stamp_update AFTER UPDATE ON loan
BEGIN
    UPDATE loan SET last_update = DATETIME('NOW') WHERE rowid = new.rowid;
END;
