"""Small built-in word lists the generated databases draw their values from.

No value contains a quote character: gold SQL writes values as ``'...'`` literals
and the Spider tokenizer treats either quote as a string delimiter.
"""

from __future__ import annotations

FIRST_NAMES = """Ada Alan Alice Amara Anders Anna Arjun Ben Bianca Carlos Chen Clara Daniel Diego
Dmitri Elena Emma Farah Felix Grace Hana Hugo Ines Ivan Jamal Jana Jonas Julia Kenji Lars Leila
Lena Lucas Maya Mateo Mei Nadia Noah Olga Omar Paula Priya Rafael Rosa Sara Sofia Tariq Tom
Uma Victor Wei Yara Yusuf Zoe Marco Nina Oscar Petra Quinn Ravi""".split()

LAST_NAMES = """Abbott Alvarez Banerjee Becker Costa Dubois Eriksen Fischer Garcia Haddad Hansen
Ito Jensen Kim Kowalski Larsen Lopez Martin Meyer Moreau Nakamura Novak Okafor Olsen Patel Petrov
Quinn Rossi Santos Schmidt Silva Singh Sato Tanaka Torres Varga Walker Weber Yilmaz Zhang Nowak
Keller Brandt Castillo Duarte Ferreira Horvat Lindqvist Mendes""".split()

CITIES = """Amsterdam Athens Austin Berlin Bogota Boston Cairo Chicago Denver Dublin Geneva Hamburg
Helsinki Lima Lisbon Lyon Madrid Milan Montreal Mumbai Nairobi Osaka Oslo Paris Porto Prague
Quito Seattle Seoul Sydney Toronto Vienna Warsaw Zurich""".split()

COUNTRIES = """Argentina Australia Brazil Canada Chile Denmark Egypt France Germany Ghana India
Ireland Italy Japan Kenya Mexico Norway Peru Poland Portugal Spain Sweden Turkey Vietnam""".split()

ADJECTIVES = """Amber Ancient Bold Bright Broken Crimson Distant Electric Endless Fading Gentle
Golden Hidden Hollow Iron Last Lost Midnight Quiet Rising Scarlet Secret Silent Silver Velvet
Wandering Wild Winter""".split()

NOUNS = """Bridge Canyon City Dream Echo Empire Field Forest Garden Harbor Horizon Island Journey
Kingdom Lantern Light Mirror Mountain Ocean Orchard River Road Shadow Signal Storm Summer Tide
Tower Valley Voice Window""".split()

BAND_WORDS = """Arrows Bees Comets Drifters Embers Foxes Giants Harbors Lions Lanterns Monarchs
Owls Pilots Ravens Rockets Saints Sparrows Tigers Waves Wolves""".split()

MASCOTS = """Bears Bulls Eagles Falcons Hawks Hornets Jaguars Knights Lions Lynx Panthers Pirates
Rangers Rovers Sharks Stallions Titans Vikings Wolves Wizards""".split()

PRODUCT_ADJ = """Classic Compact Deluxe Eco Ergonomic Organic Portable Premium Smart Sturdy Ultra
Vintage Wireless""".split()

PRODUCT_NOUNS = """Backpack Blender Camera Chair Desk Drill Headphones Kettle Lamp Mixer Mug
Notebook Printer Speaker Tablet Teapot Toaster Umbrella Watch""".split()

DISHES = """Burrito Carbonara Curry Dumplings Falafel Goulash Gyoza Lasagna Moussaka Paella Pho
Pierogi Ramen Risotto Salad Shakshuka Stew Sushi Tacos Tagine""".split()

DISH_STYLES = """Classic Crispy Garlic Grilled Herb Lemon Smoky Spicy Sweet Truffle""".split()

SUBJECTS = """Algebra Anatomy Astronomy Biology Calculus Chemistry Economics Ethics Genetics
Geology History Linguistics Logic Music Philosophy Physics Poetry Psychology Sociology
Statistics""".split()

COURSE_LEVELS = ["Introduction to", "Advanced", "Applied", "Topics in", "Foundations of"]

DEPARTMENTS = """Accounting Engineering Finance Legal Logistics Marketing Operations Procurement
Research Sales Security Support Training""".split()

AIRCRAFT = """A220 A319 A320 A321 A330 A350 B737 B747 B757 B767 B777 B787 E175 E190 ATR72 CRJ900
Q400""".split()
