"""Writes data.sql beside it: the music room's rows, made up here (a fixed seed, so the same
file every time): `python tests/realworld/music_room_like/make_data.py`. The rows the tests of
tests/test_sync_music_room.py name are set by hand below (a trailing space, a typographic
apostrophe, an invoice's total, the dates); the ids have gaps and some keys point at rows left
out, as a sample of a larger database would."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).parent
Row = tuple[object, ...]

SECTIONS = (
    "Gesek",
    "Tiup Kayu",
    "Tiup Logam",
    "Perkusi",
    "Gamelan",
    "Angklung",
    "Keyboard",
    "Vokal",
)
# Composers from a dozen languages, as their own scripts spell them, then made-up local ones.
FAMOUS = (
    ("Antonín Dvořák", "Czechia"),
    ("Béla Bartók", "Hungary"),
    ("Frédéric Chopin", "Poland"),
    ("Edvard Grieg", "Norway"),
    ("Jean Sibelius", "Finland"),
    ("Пётр Чайковский", "Russia"),
    ("Сергей Рахманинов", "Russia"),
    ("滝 廉太郎", "Japan"),
    ("武満 徹", "Japan"),
    ("Ismail Marzuki", "Indonesia"),
    ("Gesang Martohartono", "Indonesia"),
    ("Heitor Villa-Lobos", "Brazil"),
    ("Isaac Albéniz", "Spain"),
    ("Ahmet Adnan Saygun", "Türkiye"),
    ("Μίκης Θεοδωράκης", "Greece"),
    ("Stanisław Moniuszko", "Poland"),
    ("Zoltán Kodály", "Hungary"),
    ("Leoš Janáček", "Czechia"),
    ("سيد درويش", "Egypt"),
    ("रवि शंकर", "India"),
    ("윤이상", "Korea"),
    ("冼星海", "China"),
    ("Carl Nielsen", "Denmark"),
    ("Ki Hajar Dewantara", "Indonesia"),
    ("Amir Pasaribu", "Indonesia"),
    ("Cornel Simanjuntak", "Indonesia"),
)
GIVEN = (
    "Rizky",
    "Ayu",
    "Dimas",
    "Putri",
    "Bayu",
    "Sekar",
    "Fajar",
    "Nadia",
    "Galih",
    "Intan",
    "Yusuf",
    "Laras",
    "Arief",
    "Citra",
    "Hendra",
    "Wulan",
    "Teguh",
    "Maya",
    "Rangga",
    "Tiara",
)
FAMILY = (
    "Pratama",
    "Lestari",
    "Saputra",
    "Wijaya",
    "Hasibuan",
    "Siregar",
    "Nugroho",
    "Kusuma",
    "Rahmawati",
    "Sembiring",
    "Manurung",
    "Simatupang",
    "Tanjung",
    "Hidayat",
    "Setiawan",
)
TUNES = (
    "Ampar-Ampar Pisang",
    "Gundul-Gundul Pacul",
    "Manuk Dadali",
    "Rasa Sayange",
    "Apuse",
    "Yamko Rambe Yamko",
    "Soleram",
    "Cublak-Cublak Suweng",
    "Bungong Jeumpa",
    "Kicir-Kicir",
    "Jali-Jali",
    "Tokecang",
    "Anging Mammiri",
    "O Ina Ni Keke",
    "Sipatokaan",
    "Ode an die Freude",
    "Für Elise",
    "Morgenstimmung",
    "Finlandia",
    "Slavonic Dance",
    "Mazurka",
    "Humoresque",
    "Largo",
    "Sakura Sakura",
    "Arirang",
)
FORMS = (
    "for two voices",
    "for string quartet",
    "for angklung",
    "in D",
    "in G minor",
    "for beginners",
    "for recorder",
    "for gamelan and choir",
    "simplified",
    "round",
)
BOOKS = (
    "Lagu Daerah Nusantara",
    "Etudes for Young Players",
    "Paduan Suara Sekolah",
    "Repertoar Angklung",
    "Classical Favourites",
    "Gending Jawa",
    "Keroncong Lama",
    "Sight-Reading Book",
    "Lagu Wajib Nasional",
    "Music of the World",
)
INSTRUMENTS = (
    "Biola 4/4",
    "Biola 3/4",
    "Cello",
    "Kontrabas",
    "Flute",
    "Klarinet",
    "Saksofon Alto",
    "Trumpet",
    "Trombon",
    "Drum Set",
    "Kendang",
    "Saron",
    "Bonang",
    "Gong Ageng",
    "Angklung Set",
    "Keyboard",
    "Piano Digital",
    "Gitar Klasik",
    "Ukulele",
    "Pianika",
)
CITIES = (
    ("Bandung", "Jawa Barat", "40"),
    ("Cianjur", "Jawa Barat", "43"),
    ("Bogor", "Jawa Barat", "16"),
    ("Jakarta Selatan", "DKI Jakarta", "12"),
    ("Depok", "Jawa Barat", "16"),
    ("Sukabumi", "Jawa Barat", "43"),
    ("Medan", "Sumatera Utara", "20"),
    ("Makassar", "Sulawesi Selatan", "90"),
    ("Denpasar", "Bali", "80"),
    ("Yogyakarta", "DI Yogyakarta", "55"),
)
ENSEMBLES = (
    "Paduan Suara Kelas X",
    "Angklung Kelas VII",
    "Gamelan Sekar Arum",
    "Orkes Gesek",
    "Ibu Sari’s Kulintang",
    "Band Sekolah",
    "Marching Band",
    "Kelompok Rebana",
    "Ensembel Gitar",
    "Keroncong Malnu",
    "Vokal Grup Putri",
    "Paduan Suara Guru",
    "Combo Jazz",
    "Kelas Piano Pemula",
)


def sql(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def insert(table: str, columns: Sequence[str], rows: Sequence[Row]) -> str:
    head = f"INSERT INTO [{table}] ({', '.join(f'[{c}]' for c in columns)}) VALUES"
    lines, line = [head], ""
    for i, row in enumerate(rows):
        item = "(" + ", ".join(sql(v) for v in row) + ")" + (";" if i == len(rows) - 1 else ",")
        if line and len(line) + len(item) > 99:
            lines.append(line)
            line = ""
        line = f"{line} {item}" if line else item
    lines.append(line)
    return "\n".join(lines) + "\n"


def person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(GIVEN), rng.choice(FAMILY)


def make(rng: random.Random) -> dict[str, tuple[Sequence[str], list[Row]]]:
    sections: list[Row] = [(i, n) for i, n in enumerate(SECTIONS, 1)]
    composers: list[Row] = [(i, n, c) for i, (n, c) in enumerate(FAMOUS, 1)]
    for i in range(len(composers) + 1, 121):
        name = None if i % 37 == 0 else " ".join(person(rng))
        composers.append((i, name, None if i % 5 == 0 else "Indonesia"))
    songbooks: list[Row] = [
        (i, f"{BOOKS[i % len(BOOKS)]}, Jilid {1 + i // len(BOOKS)}", rng.randint(1, 130))
        for i in range(1, 91)
    ]
    teachers: list[Row] = [
        (
            1,
            "Hartono",
            "Sri",
            "Kepala Bidang Seni",
            None,
            "1968-04-21 00:00:00",
            "2001-07-16 00:00:00",
            "+62 812-1111-2001",
            "sri.hartono@malnu.sch.id",
        ),
    ]
    for i in range(2, 10):
        first, last = person(rng)
        teachers.append(
            (
                i,
                last,
                first,
                "Koordinator" if i < 4 else "Guru Musik",
                1 if i < 4 else 2 + i % 2,
                f"19{70 + i * 2}-{1 + i:02d}-{3 * i:02d} 00:00:00",
                f"20{10 + i}-07-{10 + i:02d} 00:00:00",
                f"+62 81{i}-{1000 + 7 * i}-{2000 + 11 * i}",
                f"{first.lower()}.{last.lower()}@malnu.sch.id",
            )
        )
    pieces: list[Row] = []
    for i in (*range(1, 149), 901, 902):
        tune = TUNES[rng.randrange(len(TUNES))]
        arranger = (
            None
            if i % 4 == 0
            else " / ".join(f"{t[2]} {t[1]}" for t in rng.sample(teachers, 1 + (i % 9 == 0)))
        )
        pieces.append(
            (
                i,
                f"{tune}, {rng.choice(FORMS)}",
                None if i % 23 == 0 else rng.randint(1, 95),
                rng.randint(1, 8),
                arranger,
                rng.randint(75, 540),
                None if i % 11 == 0 else rng.randint(80_000, 9_000_000),
                rng.choice((0.5, 0.75, 1.0, 1.25, 1.5, 2.0)),
            )
        )
    pieces[0] = (*pieces[0][:7], 1.5)  # (tests: piece 1 costs 1.50, piece 6 has an arranger)
    pieces[5] = (*pieces[5][:4], "Sri Hartono", *pieces[5][5:])
    instruments: list[Row] = [
        (
            i,
            INSTRUMENTS[i % len(INSTRUMENTS)],
            1 + i % 8 if i % 13 else None,
            f"MN-{2015 + i % 10}-{i:04d}",
            None if i % 9 == 0 else f"{2015 + i % 10}-{1 + i % 12:02d}-{1 + i % 27:02d} 00:00:00",
            rng.choice((5.0, 7.5, 10.0, 12.5, 15.0, 25.0)),
        )
        for i in range(1, 61)
    ]
    students: list[Row] = []
    for i in range(1, 46):
        first, last = person(rng)
        city, province, postal = CITIES[i % len(CITIES)]
        students.append(
            (
                i,
                first,
                None if i % 6 == 0 else last,
                None
                if i % 8 == 0
                else ("Ibu Nur'aini" if i == 9 else f"Bapak {rng.choice(GIVEN)}"),
                f"Jl. {rng.choice(FAMILY)} No. {rng.randint(1, 120)}",
                city,
                province,
                f"{postal}{rng.randint(100, 999)}",
                f"+62 857-{2000 + i}-{3000 + 7 * i}",
                f"{first.lower()}{i}@siswa.malnu.sch.id",
                None if i % 10 == 0 else 2 + i % 8,
            )
        )
    lines: list[Row] = []
    totals: dict[int, float] = {}
    invoice_ids = list(range(8, 78))
    for line_id in (*range(20, 157), 2201, 2202, 2250):
        invoice = invoice_ids[(line_id - 20) // 2] if line_id < 157 else rng.randint(300, 400)
        price = rng.choice((0.75, 1.5, 5.0, 7.5, 12.5))
        qty = rng.randint(1, 3)
        lines.append((line_id, invoice, rng.randint(1, 64), price, qty))
        totals[invoice] = round(totals.get(invoice, 0) + price * qty, 2)
    totals[12], totals[20] = 3.45, 2.25
    invoices: list[Row] = []
    for i in invoice_ids:
        student = students[(i * 7) % 45]
        day = f"2025-{1 + (i - 8) // 6:02d}-{1 + (i * 5) % 28:02d} 00:00:00"
        invoices.append(
            (
                i,
                student[0],
                day,
                student[4],
                "Cianjur " if i == 20 else student[5],
                student[6],
                student[7],
                totals.get(i, 1.5),
            )
        )
    ensembles: list[Row] = [
        (i, n, None if i % 5 == 0 else 1 + i % 9) for i, n in enumerate(ENSEMBLES, 1)
    ]
    every = [(e, p) for e in range(1, 14) for p in range(1, 161) if (e, p) != (1, 99)]
    pairs = sorted([(1, 99), *rng.sample(every, 119)])  # (a test deletes 1's 99)
    rehearsals: list[Row] = [
        (
            i,
            1 + i % 14,
            None if i % 7 == 0 else 1 + i % 9,
            f"2025-{8 + i // 10:02d}-{1 + (i * 3) % 28:02d} {14 + i % 3}:{30 * (i % 2):02d}:00",
            None if i % 11 == 0 else f"R. Musik {1 + i % 3}",
        )
        for i in range(1, 31)
    ]
    return {
        "Section": (("SectionId", "Name"), sections),
        "Composer": (("ComposerId", "Name", "Country"), composers),
        "Songbook": (("SongbookId", "Title", "ComposerId"), songbooks),
        "Piece": (
            (
                "PieceId",
                "Title",
                "SongbookId",
                "SectionId",
                "Arranger",
                "Seconds",
                "ScanBytes",
                "CopyFee",
            ),
            pieces,
        ),
        "Instrument": (
            ("InstrumentId", "Name", "SectionId", "SerialNo", "PurchasedOn", "HireFee"),
            instruments,
        ),
        "Teacher": (
            (
                "TeacherId",
                "LastName",
                "FirstName",
                "Title",
                "ReportsTo",
                "BirthDate",
                "HireDate",
                "Phone",
                "Email",
            ),
            teachers,
        ),
        "Student": (
            (
                "StudentId",
                "FirstName",
                "LastName",
                "Guardian",
                "Address",
                "City",
                "Province",
                "PostalCode",
                "Phone",
                "Email",
                "TutorId",
            ),
            students,
        ),
        "Invoice": (
            (
                "InvoiceId",
                "StudentId",
                "InvoiceDate",
                "BillingAddress",
                "BillingCity",
                "BillingProvince",
                "BillingPostalCode",
                "Total",
            ),
            invoices,
        ),
        "InvoiceLine": (
            ("InvoiceLineId", "InvoiceId", "InstrumentId", "UnitPrice", "Quantity"),
            lines,
        ),
        "Ensemble": (("EnsembleId", "Name", "LeaderId"), ensembles),
        "EnsemblePiece": (("EnsembleId", "PieceId"), [tuple(p) for p in pairs]),
        "Rehearsal": (("RehearsalId", "EnsembleId", "TeacherId", "StartsAt", "Room"), rehearsals),
    }


def main() -> None:
    tables = make(random.Random(25))
    parts = [
        "-- The music room's rows, made up for malnu-tui's tests by make_data.py beside this\n"
        "-- file (do not edit: run it again). Some keys point at rows left out.\n"
    ]
    parts += [insert(t, cols, rows) for t, (cols, rows) in tables.items()]
    (HERE / "data.sql").write_text("\n".join(parts), encoding="utf-8")
    print({t: len(rows) for t, (_, rows) in tables.items()})


if __name__ == "__main__":
    main()
