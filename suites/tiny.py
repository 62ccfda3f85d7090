"""A tiny Spider-layout suite the project generates: two small databases and their questions.

It needs no download, so the first command in README.md works on a fresh
machine. Data are drawn from ``random.Random(seed)``; the folder is written once
into the cache (``$HARNESS_CACHE`` or ``~/.cache/sql-harness``) and loaded with
the Spider loader, so hardness tiers and exact match work as on Spider.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import tempfile
from pathlib import Path

from harness.suite import Suite

SCHEMAS = {
    "shop": {
        "customer": [("customer_id", "number", "INTEGER PRIMARY KEY"), ("name", "text", "TEXT"), ("city", "text", "TEXT"), ("age", "number", "INTEGER")],
        "product": [("product_id", "number", "INTEGER PRIMARY KEY"), ("name", "text", "TEXT"), ("category", "text", "TEXT"), ("price", "number", "REAL")],
        "orders": [("order_id", "number", "INTEGER PRIMARY KEY"), ("customer_id", "number", "INTEGER REFERENCES customer(customer_id)"), ("product_id", "number", "INTEGER REFERENCES product(product_id)"), ("quantity", "number", "INTEGER")],
    },
    "school": {
        "student": [("student_id", "number", "INTEGER PRIMARY KEY"), ("name", "text", "TEXT"), ("major", "text", "TEXT"), ("year", "number", "INTEGER")],
        "course": [("course_id", "number", "INTEGER PRIMARY KEY"), ("title", "text", "TEXT"), ("credits", "number", "INTEGER")],
        "enrollment": [("student_id", "number", "INTEGER REFERENCES student(student_id)"), ("course_id", "number", "INTEGER REFERENCES course(course_id)"), ("grade", "number", "REAL")],
    },
}
FOREIGN_KEYS = {
    "shop": [("orders", "customer_id", "customer", "customer_id"), ("orders", "product_id", "product", "product_id")],
    "school": [("enrollment", "student_id", "student", "student_id"), ("enrollment", "course_id", "course", "course_id")],
}
QUESTIONS = {
    "shop": [
        ("How many customers are there?", "SELECT count(*) FROM customer"),
        ("List the names of all products.", "SELECT name FROM product"),
        ("What are the names of customers older than 40?", "SELECT name FROM customer WHERE age > 40"),
        ("Which cities do customers live in?", "SELECT DISTINCT city FROM customer"),
        ("What is the average product price?", "SELECT avg(price) FROM product"),
        ("List product names ordered by price from highest to lowest.", "SELECT name FROM product ORDER BY price DESC"),
        ("How many customers live in each city?", "SELECT city , count(*) FROM customer GROUP BY city"),
        ("What is the name of the most expensive product?", "SELECT name FROM product ORDER BY price DESC LIMIT 1"),
        ("Which categories have more than two products?", "SELECT category FROM product GROUP BY category HAVING count(*) > 2"),
        ("List the names of customers with their ordered product names.", "SELECT T1.name , T3.name FROM customer AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id JOIN product AS T3 ON T2.product_id = T3.product_id"),
        ("What is the total quantity ordered by each customer name?", "SELECT T1.name , sum(T2.quantity) FROM customer AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id GROUP BY T1.name"),
        ("Which customers have never placed an order?", "SELECT name FROM customer WHERE customer_id NOT IN (SELECT customer_id FROM orders)"),
        ("Which products cost more than the average price?", "SELECT name FROM product WHERE price > (SELECT avg(price) FROM product)"),
        ("Which cities have both customers younger than 30 and customers older than 50?", "SELECT city FROM customer WHERE age < 30 INTERSECT SELECT city FROM customer WHERE age > 50"),
        ("Name the customer who ordered the largest total quantity.", "SELECT T1.name FROM customer AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id GROUP BY T1.customer_id ORDER BY sum(T2.quantity) DESC LIMIT 1"),
    ],
    "school": [
        ("How many students are there?", "SELECT count(*) FROM student"),
        ("List all course titles.", "SELECT title FROM course"),
        ("Which students are in their final year (year 4)?", "SELECT name FROM student WHERE year = 4"),
        ("What is the maximum number of credits of a course?", "SELECT max(credits) FROM course"),
        ("How many students are in each major?", "SELECT major , count(*) FROM student GROUP BY major"),
        ("List the titles of courses with 4 credits ordered by title.", "SELECT title FROM course WHERE credits = 4 ORDER BY title"),
        ("Which majors have at least three students?", "SELECT major FROM student GROUP BY major HAVING count(*) >= 3"),
        ("What is the average grade in each course title?", "SELECT T2.title , avg(T1.grade) FROM enrollment AS T1 JOIN course AS T2 ON T1.course_id = T2.course_id GROUP BY T2.title"),
        ("List student names and the titles of the courses they take.", "SELECT T1.name , T3.title FROM student AS T1 JOIN enrollment AS T2 ON T1.student_id = T2.student_id JOIN course AS T3 ON T2.course_id = T3.course_id"),
        ("Which students take no course?", "SELECT name FROM student WHERE student_id NOT IN (SELECT student_id FROM enrollment)"),
        ("Which students have a grade above 90 in some course?", "SELECT DISTINCT T1.name FROM student AS T1 JOIN enrollment AS T2 ON T1.student_id = T2.student_id WHERE T2.grade > 90"),
        ("Which course has the most students enrolled?", "SELECT T2.title FROM enrollment AS T1 JOIN course AS T2 ON T1.course_id = T2.course_id GROUP BY T1.course_id ORDER BY count(*) DESC LIMIT 1"),
        ("Which majors have students in year 1 but none in year 4?", "SELECT major FROM student WHERE year = 1 EXCEPT SELECT major FROM student WHERE year = 4"),
        ("Which students have a grade higher than every grade of student 1?", "SELECT DISTINCT T1.name FROM student AS T1 JOIN enrollment AS T2 ON T1.student_id = T2.student_id WHERE T2.grade > (SELECT max(grade) FROM enrollment WHERE student_id = 1)"),
        ("What are the names of students in the major with the most students?", "SELECT name FROM student WHERE major = (SELECT major FROM student GROUP BY major ORDER BY count(*) DESC LIMIT 1)"),
    ],
}
NAMES = ["Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo", "Kai", "Lea", "Max", "Nia", "Oto", "Pia"]
CITIES = ["Lyon", "Oslo", "Pune", "Lima", "Kobe"]
CATEGORIES = ["tools", "books", "games", "food"]
MAJORS = ["math", "history", "biology", "art"]


def _rows(db_id: str, rng: random.Random) -> dict[str, list[tuple]]:
    if db_id == "shop":
        customers = [(i, NAMES[i - 1], rng.choice(CITIES), rng.randint(18, 70)) for i in range(1, 13)]
        products = [(i, f"item-{i}", rng.choice(CATEGORIES), round(rng.uniform(2, 80), 2)) for i in range(1, 11)]
        orders = [(i, rng.randint(1, 9), rng.randint(1, 10), rng.randint(1, 5)) for i in range(1, 31)]
        return {"customer": customers, "product": products, "orders": orders}
    students = [(i, NAMES[-i], rng.choice(MAJORS), rng.randint(1, 4)) for i in range(1, 15)]
    courses = [(i, f"course-{chr(64 + i)}", rng.choice([2, 3, 4])) for i in range(1, 8)]
    pairs = sorted({(rng.randint(1, 12), rng.randint(1, 7)) for _ in range(40)})
    enrollment = [(s, c, round(rng.uniform(50, 100), 1)) for s, c in pairs]
    return {"student": students, "course": courses, "enrollment": enrollment}


def _tables_entry(db_id: str) -> dict:
    tables = list(SCHEMAS[db_id])
    columns = [[-1, "*"]]
    types = ["text"]
    index: dict[tuple[str, str], int] = {}
    for t, table in enumerate(tables):
        for name, kind, _ in SCHEMAS[db_id][table]:
            index[(table, name)] = len(columns)
            columns.append([t, name])
            types.append(kind)
    primary = [index[(t, cols[0][0])] for t, cols in SCHEMAS[db_id].items() if "PRIMARY KEY" in cols[0][2]]
    foreign = [[index[(a, b)], index[(c, d)]] for a, b, c, d in FOREIGN_KEYS[db_id]]
    readable = [[t, n.replace("_", " ")] for t, n in columns]
    return {
        "db_id": db_id,
        "table_names_original": tables,
        "table_names": [t.replace("_", " ") for t in tables],
        "column_names_original": columns,
        "column_names": readable,
        "column_types": types,
        "primary_keys": primary,
        "foreign_keys": foreign,
    }


def generate(folder: Path, seed: int = 0) -> None:
    """Write the suite folder (tables.json, dev.json, database/) for ``seed``."""
    rng = random.Random(seed)
    entries, examples = [], []
    for db_id, tables in SCHEMAS.items():
        db_path = folder / "database" / db_id / f"{db_id}.sqlite"
        db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(db_path)
        for table, cols in tables.items():
            conn.execute(f"CREATE TABLE {table} ({', '.join(f'{n} {d}' for n, _, d in cols)})")
        data = _rows(db_id, rng)
        for table, rows in data.items():
            marks = ", ".join("?" * len(rows[0]))
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        conn.commit()
        conn.close()
        entries.append(_tables_entry(db_id))
        examples += [{"db_id": db_id, "question": q, "query": sql} for q, sql in QUESTIONS[db_id]]
    (folder / "tables.json").write_text(json.dumps(entries, indent=1))
    (folder / "dev.json").write_text(json.dumps(examples, indent=1))


def cache_dir() -> Path:
    return Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "sql-harness")


def tiny_folder(seed: int = 0) -> Path:
    """The generated folder for ``seed``, created atomically on first use."""
    folder = cache_dir() / f"tiny-v1-seed{seed}"
    if not (folder / "dev.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=folder.parent))
        try:
            generate(staging, seed)
            try:
                os.replace(staging, folder)
            except OSError:  # another process won the race
                pass
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def load_tiny(data: str | Path | None = None, *, seed: int = 0, split: str = "dev", **kwargs) -> Suite:
    """Load the tiny suite (generating it if needed), or a copy of it at ``data``."""
    from suites.spider import load_spider

    suite = load_spider(data or tiny_folder(seed), split=split, **kwargs)
    suite.name = "tiny"
    for example in suite.examples:
        example.suite = "tiny"
    return suite
