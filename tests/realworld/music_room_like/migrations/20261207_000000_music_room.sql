-- Description: a school music room: composers, songbooks, pieces, sections, instruments, ensembles and their rehearsals, teachers, students and the invoices for lessons and instrument hire
CREATE TABLE [Composer]
(
	[ComposerId] INTEGER NOT NULL,
	[Name] NVARCHAR(120),
	[Country] NVARCHAR(40),
	CONSTRAINT [PK_Composer] PRIMARY KEY ([ComposerId])
);

CREATE TABLE [Ensemble]
(
	[EnsembleId] INTEGER NOT NULL,
	[Name] NVARCHAR(120),
	[LeaderId] INTEGER,
	CONSTRAINT [PK_Ensemble] PRIMARY KEY ([EnsembleId]),
	CONSTRAINT [FK_EnsembleLeader] FOREIGN KEY ([LeaderId]) REFERENCES [Teacher] ([TeacherId])
		ON DELETE NO ACTION ON UPDATE NO ACTION
);

CREATE TABLE [EnsemblePiece]
(
	[EnsembleId] INTEGER NOT NULL,
	[PieceId] INTEGER NOT NULL,
	CONSTRAINT [PK_EnsemblePiece] PRIMARY KEY ([EnsembleId], [PieceId]),
	CONSTRAINT [FK_EnsemblePieceEnsemble] FOREIGN KEY ([EnsembleId]) REFERENCES [Ensemble] ([EnsembleId])
		ON DELETE NO ACTION ON UPDATE NO ACTION,
	CONSTRAINT [FK_EnsemblePiecePiece] FOREIGN KEY ([PieceId]) REFERENCES [Piece] ([PieceId])
		ON DELETE NO ACTION ON UPDATE NO ACTION
);

CREATE TABLE [Instrument]
(
	[InstrumentId] INTEGER NOT NULL,
	[Name] NVARCHAR(80) NOT NULL,
	[SectionId] INTEGER,
	[SerialNo] NVARCHAR(30),
	[PurchasedOn] DATETIME,
	[HireFee] NUMERIC(10,2) NOT NULL,
	CONSTRAINT [PK_Instrument] PRIMARY KEY ([InstrumentId]),
	CONSTRAINT [FK_InstrumentSection] FOREIGN KEY ([SectionId]) REFERENCES [Section] ([SectionId])
		ON DELETE NO ACTION ON UPDATE NO ACTION
);

CREATE TABLE [Invoice]
(
	[InvoiceId] INTEGER NOT NULL,
	[StudentId] INTEGER NOT NULL,
	[InvoiceDate] DATETIME NOT NULL,
	[BillingAddress] NVARCHAR(70),
	[BillingCity] NVARCHAR(40),
	[BillingProvince] NVARCHAR(40),
	[BillingPostalCode] NVARCHAR(10),
	[Total] NUMERIC(10,2) NOT NULL,
	CONSTRAINT [PK_Invoice] PRIMARY KEY ([InvoiceId]),
	CONSTRAINT [FK_InvoiceStudent] FOREIGN KEY ([StudentId]) REFERENCES [Student] ([StudentId])
		ON DELETE NO ACTION ON UPDATE NO ACTION
);

CREATE TABLE [InvoiceLine]
(
	[InvoiceLineId] INTEGER NOT NULL,
	[InvoiceId] INTEGER NOT NULL,
	[InstrumentId] INTEGER NOT NULL,
	[UnitPrice] NUMERIC(10,2) NOT NULL,
	[Quantity] INTEGER NOT NULL,
	CONSTRAINT [PK_InvoiceLine] PRIMARY KEY ([InvoiceLineId]),
	CONSTRAINT [FK_InvoiceLineInvoice] FOREIGN KEY ([InvoiceId]) REFERENCES [Invoice] ([InvoiceId])
		ON DELETE NO ACTION ON UPDATE NO ACTION,
	CONSTRAINT [FK_InvoiceLineInstrument] FOREIGN KEY ([InstrumentId]) REFERENCES [Instrument] ([InstrumentId])
		ON DELETE NO ACTION ON UPDATE NO ACTION
);

CREATE TABLE [Piece]
(
	[PieceId] INTEGER NOT NULL,
	[Title] NVARCHAR(200) NOT NULL,
	[SongbookId] INTEGER,
	[SectionId] INTEGER NOT NULL,
	[Arranger] NVARCHAR(220),
	[Seconds] INTEGER NOT NULL,
	[ScanBytes] INTEGER,
	[CopyFee] NUMERIC(10,2) NOT NULL,
	CONSTRAINT [PK_Piece] PRIMARY KEY ([PieceId]),
	CONSTRAINT [FK_PieceSongbook] FOREIGN KEY ([SongbookId]) REFERENCES [Songbook] ([SongbookId])
		ON DELETE NO ACTION ON UPDATE NO ACTION,
	CONSTRAINT [FK_PieceSection] FOREIGN KEY ([SectionId]) REFERENCES [Section] ([SectionId])
		ON DELETE NO ACTION ON UPDATE NO ACTION
);

CREATE TABLE [Rehearsal]
(
	[RehearsalId] INTEGER NOT NULL,
	[EnsembleId] INTEGER NOT NULL,
	[TeacherId] INTEGER,
	[StartsAt] DATETIME NOT NULL,
	[Room] NVARCHAR(20),
	CONSTRAINT [PK_Rehearsal] PRIMARY KEY ([RehearsalId]),
	CONSTRAINT [FK_RehearsalEnsemble] FOREIGN KEY ([EnsembleId]) REFERENCES [Ensemble] ([EnsembleId])
		ON DELETE NO ACTION ON UPDATE NO ACTION,
	CONSTRAINT [FK_RehearsalTeacher] FOREIGN KEY ([TeacherId]) REFERENCES [Teacher] ([TeacherId])
		ON DELETE NO ACTION ON UPDATE NO ACTION
);

CREATE TABLE [Section]
(
	[SectionId] INTEGER NOT NULL,
	[Name] NVARCHAR(120),
	CONSTRAINT [PK_Section] PRIMARY KEY ([SectionId])
);

CREATE TABLE [Songbook]
(
	[SongbookId] INTEGER NOT NULL,
	[Title] NVARCHAR(160) NOT NULL,
	[ComposerId] INTEGER NOT NULL,
	CONSTRAINT [PK_Songbook] PRIMARY KEY ([SongbookId]),
	CONSTRAINT [FK_SongbookComposer] FOREIGN KEY ([ComposerId]) REFERENCES [Composer] ([ComposerId])
		ON DELETE NO ACTION ON UPDATE NO ACTION
);

CREATE TABLE [Student]
(
	[StudentId] INTEGER NOT NULL,
	[FirstName] NVARCHAR(40) NOT NULL,
	[LastName] NVARCHAR(20),
	[Guardian] NVARCHAR(80),
	[Address] NVARCHAR(70),
	[City] NVARCHAR(40),
	[Province] NVARCHAR(40),
	[PostalCode] NVARCHAR(10),
	[Phone] NVARCHAR(24),
	[Email] NVARCHAR(60) NOT NULL,
	[TutorId] INTEGER,
	CONSTRAINT [PK_Student] PRIMARY KEY ([StudentId]),
	CONSTRAINT [FK_StudentTutor] FOREIGN KEY ([TutorId]) REFERENCES [Teacher] ([TeacherId])
		ON DELETE NO ACTION ON UPDATE NO ACTION
);

CREATE TABLE [Teacher]
(
	[TeacherId] INTEGER NOT NULL,
	[LastName] NVARCHAR(20) NOT NULL,
	[FirstName] NVARCHAR(20) NOT NULL,
	[Title] NVARCHAR(30),
	[ReportsTo] INTEGER,
	[BirthDate] DATETIME,
	[HireDate] DATETIME,
	[Phone] NVARCHAR(24),
	[Email] NVARCHAR(60),
	CONSTRAINT [PK_Teacher] PRIMARY KEY ([TeacherId]),
	CONSTRAINT [FK_TeacherReportsTo] FOREIGN KEY ([ReportsTo]) REFERENCES [Teacher] ([TeacherId])
		ON DELETE NO ACTION ON UPDATE NO ACTION
);

CREATE INDEX [IX_EnsembleLeaderId] ON [Ensemble] ([LeaderId]);
CREATE INDEX [IX_EnsemblePiecePieceId] ON [EnsemblePiece] ([PieceId]);
CREATE INDEX [IX_InstrumentSectionId] ON [Instrument] ([SectionId]);
CREATE INDEX [IX_InvoiceStudentId] ON [Invoice] ([StudentId]);
CREATE INDEX [IX_InvoiceLineInvoiceId] ON [InvoiceLine] ([InvoiceId]);
CREATE INDEX [IX_InvoiceLineInstrumentId] ON [InvoiceLine] ([InstrumentId]);
CREATE INDEX [IX_PieceSongbookId] ON [Piece] ([SongbookId]);
CREATE INDEX [IX_PieceSectionId] ON [Piece] ([SectionId]);
CREATE INDEX [IX_RehearsalEnsembleStartsAt] ON [Rehearsal] ([EnsembleId], [StartsAt]);
CREATE INDEX [IX_SongbookComposerId] ON [Songbook] ([ComposerId]);
CREATE INDEX [IX_StudentTutorId] ON [Student] ([TutorId]);
CREATE INDEX [IX_TeacherReportsTo] ON [Teacher] ([ReportsTo]);
