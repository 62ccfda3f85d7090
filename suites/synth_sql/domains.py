"""The domain templates: ten families of databases (parents are listed before children).

Each instance draws table and column names from the variants listed, keeps a
random subset of the optional columns and tables, and draws its own rows.

>>> sorted(DOMAINS)[:4], len(DOMAINS)
(['airline', 'company', 'hospital', 'library'], 10)
"""

from __future__ import annotations

from suites.synth_sql.schema import DomainSpec
from suites.synth_sql.templates import cat, code, date, fk, label, num, table
from suites.synth_sql.words import CITIES, COUNTRIES, SUBJECTS

GENDER = (("F", "female"), ("M", "male"))

SCHOOL = DomainSpec("school", (
    table("teacher", ("teacher", "instructor"), ("teacher", "teachers"), (8, 14),
          label("person"),
          cat("subject", "subject", SUBJECTS[:9], ("subject", "specialty")),
          num("experience", "years of experience", 1, 35, names=("years_experience", "experience_years")),
          num("salary", "salary", 38000, 96000, step=500, normal=True, optional=True)),
    table("student", ("student", "pupil"), ("student", "students"), (30, 60),
          label("person"),
          cat("major", "major", ("Biology", "History", "Mathematics", "Physics", "Economics", "Art", "Chemistry"),
              ("major", "field_of_study")),
          num("year_level", "year of study", 1, 4, names=("year_level", "study_year")),
          num("gpa", "GPA", 1.5, 4.0, step=0.25, real=True, normal=True, names=("gpa", "grade_point_average"),
              adjectives=(("honors", ">=", 3.5), ("struggling", "<", 2.0))),
          cat("home_city", "home city", CITIES, ("home_city", "hometown"), optional=True, nulls=0.1),
          code("gender", "gender", GENDER, ("gender", "sex"), optional=True)),
    table("course", ("course", "module"), ("course", "courses"), (8, 16),
          label("course", "title", ("title", "course_name")),
          num("credits", "number of credits", 1, 6, names=("credits", "credit_hours")),
          code("level", "level", (("U", "undergraduate"), ("G", "graduate")), ("level", "course_level"), optional=True),
          fk("teacher", "taught by")),
    table("enrollment", ("enrollment", "registration"), ("enrollment", "enrollments"), (60, 140),
          fk("student", "of"),
          fk("course", "in"),
          num("grade", "grade", 35, 100, normal=True, names=("grade", "final_score"), nulls=0.08),
          num("term_year", "year", 2018, 2024, names=("enrollment_year", "term_year"), optional=True),
          link=("are enrolled in", "taken by")),
))

SHOP = DomainSpec("shop", (
    table("customer", ("customer", "client"), ("customer", "customers"), (20, 50),
          label("person"),
          cat("city", "city", CITIES, ("city", "home_city")),
          num("age", "age", 18, 85, normal=True, nulls=0.1, adjectives=(("senior", ">", 65), ("young", "<", 25))),
          code("tier", "membership tier", (("G", "gold-tier"), ("S", "silver-tier"), ("B", "bronze-tier")),
               ("tier", "member_level"), optional=True),
          date("signup_date", "signup date", 2015, 2024, ("signup_date", "joined_on"), optional=True)),
    table("product", ("product", "item"), ("product", "products"), (15, 35),
          label("product", "name", ("name", "product_name")),
          cat("category", "category", ("Electronics", "Kitchen", "Office", "Outdoor", "Toys", "Garden", "Sports"),
              ("category", "product_type")),
          num("price", "price", 2, 400, step=0.25, real=True, names=("price", "unit_price"),
              adjectives=(("expensive", ">", 250), ("cheap", "<", 20))),
          num("stock", "stock quantity", 0, 500, names=("stock", "units_in_stock"), optional=True, nulls=0.05)),
    table("orders", ("orders", "purchase", "sale"), ("order", "orders"), (60, 150),
          fk("customer", "placed by"),
          fk("product", "for"),
          num("quantity", "quantity", 1, 10, names=("quantity", "qty")),
          date("order_date", "order date", 2020, 2024, ("order_date", "purchased_on")),
          code("status", "status", (("D", "delivered"), ("P", "pending"), ("C", "cancelled")),
               ("status", "order_status"), optional=True),
          link=("ordered", "ordered by")),
))

LIBRARY = DomainSpec("library", (
    table("author", ("author", "writer"), ("author", "authors"), (10, 25),
          label("person"),
          cat("country", "country", COUNTRIES, ("country", "nationality")),
          num("birth_year", "birth year", 1920, 1995, names=("birth_year", "year_of_birth"), optional=True)),
    table("book", ("book", "publication"), ("book", "books"), (25, 60),
          label("title", "title", ("title", "book_title")),
          fk("author", "written by"),
          cat("genre", "genre", ("Fiction", "Mystery", "Science", "History", "Poetry", "Fantasy", "Biography"),
              ("genre", "category")),
          num("pub_year", "publication year", 1950, 2024, names=("publication_year", "published_year")),
          num("pages", "number of pages", 80, 900, normal=True, names=("pages", "page_count"),
              adjectives=(("long", ">", 500), ("short", "<", 150)))),
    table("member", ("member", "patron"), ("member", "members"), (20, 45),
          label("person"),
          cat("city", "city", CITIES, ("city", "home_city")),
          num("join_year", "joining year", 2005, 2024, names=("join_year", "member_since")),
          code("member_type", "membership type", (("S", "student"), ("A", "adult"), ("R", "retired")),
               ("member_type", "membership"), optional=True)),
    table("loan", ("loan", "checkout"), ("loan", "loans"), (50, 120),
          fk("member", "made by"),
          fk("book", "of"),
          date("loan_date", "loan date", 2021, 2024, ("loan_date", "borrowed_on")),
          num("days", "loan length in days", 1, 60, names=("days", "duration_days"), nulls=0.1),
          link=("borrowed", "borrowed by")),
))

HOSPITAL = DomainSpec("hospital", (
    table("doctor", ("doctor", "physician"), ("doctor", "doctors"), (8, 20),
          label("person"),
          cat("specialty", "specialty", ("Cardiology", "Neurology", "Pediatrics", "Oncology", "Dermatology",
                                         "Orthopedics", "Radiology"), ("specialty", "field")),
          num("experience", "years of experience", 1, 40, names=("years_experience", "experience")),
          num("salary", "salary", 90000, 400000, step=1000, normal=True, optional=True)),
    table("patient", ("patient", "inpatient"), ("patient", "patients"), (30, 70),
          label("person"),
          num("age", "age", 1, 95, normal=True, adjectives=(("elderly", ">", 70), ("underage", "<", 18))),
          code("sex", "sex", GENDER, ("sex", "gender")),
          cat("blood_type", "blood type", ("O+", "A+", "B+", "AB+", "O-", "A-"), ("blood_type", "blood_group")),
          cat("city", "city", CITIES, ("city", "residence"), optional=True, nulls=0.1)),
    table("appointment", ("appointment", "visit"), ("appointment", "appointments"), (60, 140),
          fk("patient", "of"),
          fk("doctor", "with"),
          date("appointment_date", "appointment date", 2022, 2024, ("appointment_date", "visit_date")),
          num("fee", "fee", 20, 400, step=0.25, real=True, names=("fee", "cost"), nulls=0.05),
          code("status", "status", (("C", "completed"), ("N", "missed")), ("status", "outcome"), optional=True),
          link=("were seen by", "who saw")),
))

AIRLINE = DomainSpec("airline", (
    table("airport", ("airport", "airfield"), ("airport", "airports"), (8, 15),
          label("airport", "name", ("name", "airport_name")),
          cat("country", "country", COUNTRIES, ("country", "country_name")),
          num("runways", "number of runways", 1, 5, names=("runways", "runway_count")),
          num("elevation", "elevation", 0, 2500, names=("elevation", "altitude_m"), optional=True)),
    table("aircraft", ("aircraft", "plane"), ("plane", "planes"), (6, 14),
          label("aircraft", "model", ("model", "aircraft_model")),
          num("capacity", "seating capacity", 70, 420, names=("capacity", "seats")),
          num("year_built", "year built", 1995, 2023, names=("year_built", "build_year"), optional=True)),
    table("flight", ("flight", "route"), ("flight", "flights"), (30, 70),
          label("flight", "flight number", ("flight_number", "flight_code")),
          fk("airport", "departing from"),
          fk("aircraft", "operated with"),
          num("distance", "distance", 200, 9000, step=10, names=("distance", "distance_km"),
              adjectives=(("long-haul", ">", 4000), ("short-haul", "<", 1000))),
          num("duration", "duration in minutes", 40, 720, names=("duration", "duration_minutes"), optional=True)),
    table("passenger", ("passenger", "traveler"), ("passenger", "passengers"), (30, 60),
          label("person"),
          cat("nationality", "nationality", COUNTRIES, ("nationality", "citizenship")),
          num("age", "age", 1, 90, normal=True, adjectives=(("senior", ">", 65), ("underage", "<", 18))),
          code("loyalty", "loyalty status", (("E", "elite"), ("R", "regular")), ("loyalty", "loyalty_status"),
               optional=True)),
    table("booking", ("booking", "reservation"), ("booking", "bookings"), (60, 150),
          fk("passenger", "made by"),
          fk("flight", "on"),
          cat("seat_class", "seat class", ("Economy", "Premium", "Business", "First"), ("seat_class", "cabin")),
          num("fare", "fare", 50, 2000, step=0.25, real=True, names=("fare", "price_paid")),
          link=("booked", "booked by")),
))

DOMAINS_A = {d.name: d for d in (SCHOOL, SHOP, LIBRARY, HOSPITAL, AIRLINE)}


def _all() -> dict[str, DomainSpec]:
    from suites.synth_sql.domains_more import DOMAINS_B

    return {**DOMAINS_A, **DOMAINS_B}


DOMAINS: dict[str, DomainSpec] = _all()
