#!/usr/bin/env python3
"""Regenerate the training corpus of bytegram's embedded byte-level model, deterministically.

Everything here is synthetic: word lists written for this file, templates and a seeded RNG;
nothing is downloaded. The corpus imitates what a constrained decoder is asked to produce:

- JSON documents in the shapes LLMs are asked for (users, addresses, products, orders, events,
  configs, tool/API calls, logs, reviews, recipes, ...) with nested objects and arrays, dates,
  e-mails, UUIDs, numbers, booleans and nulls; printed compact, with ", "/": " separators, or
  indented by 2 or 4 spaces; some with non-ASCII text written as UTF-8, some escaped;
- prompt -> JSON pairs ("Give me a user as JSON:\\n{...}", "Generate JSON matching this
  schema: {...}\\n{...}", chat-like "User: ... Assistant: {...}") so that a prompt steers the
  model a little;
- short natural-language sentences and prompt-like lines built from templates;
- regex-shaped strings: phone numbers, dates, times, e-mails, URLs, IPv4 addresses, UUIDs,
  ZIP codes, hex colours, versions, ...

Document i is generated from its own RNG, ``random.Random(f"{seed}:{i}")``, so the first k
documents are the same whatever the total count, and document i is held out for evaluation
exactly when ``i % 20 == 19`` (5%). ``documents(seed, n)`` and ``split(i)`` are importable.

Output (a directory, default ``build/corpus/``; not committed):
``train.jsonl`` and ``heldout.jsonl`` (one JSON string per line, the document's text) and
``meta.json`` (seed, counts, byte sizes, sha256 of both files).

    python scripts/make_corpus.py [OUT_DIR] [--seed 1234] [--docs 40000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import string
import sys
from pathlib import Path
from typing import Any, Callable

DEFAULT_SEED = 1234
DEFAULT_DOCS = 40000
HELDOUT_EVERY = 20  # document i is held out when i % 20 == 19

# ---------------------------------------------------------------------------------------------
# word lists (written for this file)

FIRST = """James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara
Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Betty
Mark Margaret Donald Sandra Steven Ashley Paul Kimberly Andrew Emily Joshua Donna Kenneth
Michelle Kevin Carol Brian Amanda George Melissa Timothy Deborah Ronald Stephanie Edward Rebecca
Jason Sharon Jeffrey Laura Ryan Cynthia Jacob Amy Gary Kathleen Nicholas Angela Eric Shirley
Jonathan Anna Stephen Brenda Larry Pamela Justin Emma Scott Nicole Brandon Helen Benjamin
Samantha Samuel Katherine Gregory Christine Alexander Debra Frank Rachel Patrick Carolyn Raymond
Janet Jack Maria Dennis Olivia Jerry Heather Tyler Diane Aaron Julie Jose Joyce Adam Victoria
Nathan Ruth Henry Virginia Zachary Lauren Douglas Kelly Peter Christina Kyle Joan Noah Evelyn
Ethan Judith Jeremy Andrea Walter Hannah Christian Megan Keith Cheryl Roger Jacqueline Terry
Martha Austin Madison Sean Teresa Gerald Gloria Carl Sara Harold Janice Dylan Ann Arthur Kathryn
Lawrence Abigail Jordan Sophia Jesse Frances Bryan Jean Billy Alice Bruce Judy Gabriel Isabella
Joe Julia Logan Grace Alan Amber Juan Denise Albert Danielle Willie Marilyn Elijah Beverly Wayne
Charlotte Randy Natalie Vincent Theresa Mason Diana Roy Brittany Ralph Doris Bobby Kayla Russell
Alexis Bradley Lori Philip Marie Eugene Aiko Hiroshi Yuki Mei Wei Li Chen Priya Arjun Ravi
Ananya Fatima Omar Ahmed Layla Youssef Amara Kwame Chidi Zanele Thabo Lucas Mateo Sofia
Valentina Camila Santiago Diego Lucia Elena Ivan Olga Dmitri Anya Sven Ingrid Lars Astrid
Freya Hans Klaus Greta Pierre Amelie Louis Chloe Giulia Marco Luca Francesca""".split()

FIRST_UNICODE = ["José", "Zoë", "Chloé", "Björn", "Søren", "Åsa", "François", "Mónica",
                 "Łukasz", "Jürgen", "Renée", "Noémie", "Dvořák", "Ñuño", "Zuzana",
                 "Çelik",
                 "Øyvind", "Sébastien", "Inés", "Gökhan", "Ana María", "Héloïse", "Miloš"]

LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez
Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White
Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen
Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips
Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers
Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson
Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders
Patel Myers Long Ross Foster Jimenez Tanaka Suzuki Sato Watanabe Yamamoto Wang Zhang Liu Chen
Singh Kumar Sharma Gupta Khan Ali Hassan Okafor Mensah Nkosi Silva Santos Oliveira Pereira
Costa Rossi Russo Ferrari Esposito Bianchi Romano Muller Schmidt Schneider Fischer Weber
Meyer Wagner Becker Hoffmann Dubois Moreau Laurent Lefebvre Leroy Novak Kowalski Nowak
Ivanov Petrov Smirnov Larsen Hansen Nielsen Andersen Johansson Lindqvist Berg""".split()

CITIES = [("Springfield", "IL", "US"), ("Portland", "OR", "US"), ("Austin", "TX", "US"),
          ("Denver", "CO", "US"), ("Boston", "MA", "US"), ("Seattle", "WA", "US"),
          ("Chicago", "IL", "US"), ("Miami", "FL", "US"), ("Phoenix", "AZ", "US"),
          ("Atlanta", "GA", "US"), ("San Diego", "CA", "US"), ("San Francisco", "CA", "US"),
          ("New York", "NY", "US"), ("Nashville", "TN", "US"), ("Madison", "WI", "US"),
          ("Salt Lake City", "UT", "US"), ("Raleigh", "NC", "US"), ("Columbus", "OH", "US"),
          ("Toronto", "ON", "CA"), ("Vancouver", "BC", "CA"), ("Montreal", "QC", "CA"),
          ("London", "", "GB"), ("Manchester", "", "GB"), ("Edinburgh", "", "GB"),
          ("Dublin", "", "IE"), ("Paris", "", "FR"), ("Lyon", "", "FR"), ("Berlin", "", "DE"),
          ("Munich", "", "DE"), ("Hamburg", "", "DE"), ("Madrid", "", "ES"),
          ("Barcelona", "", "ES"), ("Lisbon", "", "PT"), ("Rome", "", "IT"),
          ("Milan", "", "IT"), ("Amsterdam", "", "NL"), ("Brussels", "", "BE"),
          ("Vienna", "", "AT"), ("Zurich", "", "CH"), ("Stockholm", "", "SE"),
          ("Oslo", "", "NO"), ("Copenhagen", "", "DK"), ("Helsinki", "", "FI"),
          ("Warsaw", "", "PL"), ("Prague", "", "CZ"), ("Tokyo", "", "JP"), ("Osaka", "", "JP"),
          ("Seoul", "", "KR"), ("Beijing", "", "CN"), ("Shanghai", "", "CN"),
          ("Singapore", "", "SG"), ("Mumbai", "", "IN"), ("Bangalore", "", "IN"),
          ("Sydney", "NSW", "AU"), ("Melbourne", "VIC", "AU"), ("Auckland", "", "NZ"),
          ("São Paulo", "SP", "BR"), ("Buenos Aires", "", "AR"), ("Mexico City", "", "MX"),
          ("Cape Town", "", "ZA"), ("Nairobi", "", "KE"), ("Lagos", "", "NG"),
          ("Cairo", "", "EG"), ("Istanbul", "", "TR"), ("Dubai", "", "AE"), ("Zürich", "", "CH"),
          ("Kraków", "", "PL"), ("Malmö", "", "SE"), ("Köln", "", "DE"), ("Québec", "QC", "CA")]

COUNTRY_NAMES = {"US": "United States", "CA": "Canada", "GB": "United Kingdom", "IE": "Ireland",
                 "FR": "France", "DE": "Germany", "ES": "Spain", "PT": "Portugal", "IT": "Italy",
                 "NL": "Netherlands", "BE": "Belgium", "AT": "Austria", "CH": "Switzerland",
                 "SE": "Sweden", "NO": "Norway", "DK": "Denmark", "FI": "Finland",
                 "PL": "Poland", "CZ": "Czechia", "JP": "Japan", "KR": "South Korea",
                 "CN": "China", "SG": "Singapore", "IN": "India", "AU": "Australia",
                 "NZ": "New Zealand", "BR": "Brazil", "AR": "Argentina", "MX": "Mexico",
                 "ZA": "South Africa", "KE": "Kenya", "NG": "Nigeria", "EG": "Egypt",
                 "TR": "Turkey", "AE": "United Arab Emirates"}

STREETS = """Main Oak Maple Pine Cedar Elm Washington Lake Hill Park River Sunset Church Spring
Highland Forest Meadow Willow Ridge Valley Mill Market King Queen Station Bridge Garden Orchard
Harbor Broad High North South West East Chestnut Birch Walnut Lincoln Jefferson Franklin
Madison Jackson Adams Monroe Center Union School""".split()
STREET_KINDS = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Lane", "Boulevard", "Blvd",
                "Drive", "Dr", "Court", "Way", "Place", "Terrace", "Parkway"]

DOMAINS = ["example.com", "example.org", "example.net", "mail.com", "inbox.org", "corp.io",
           "acme.co", "company.com", "startup.dev", "university.edu", "service.app",
           "webmail.net", "fastmail.test", "shop.store", "data.ai", "cloud.systems"]

COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella Labs", "Stark Industries",
             "Wayne Enterprises", "Hooli", "Vandelay Industries", "Soylent Co", "Cyberdyne",
             "Tyrell Systems", "Wonka Foods", "Pied Piper", "Aperture Science", "Blue Sun",
             "Northwind Traders", "Contoso", "Fabrikam", "Litware", "Adventure Works",
             "Oceanic Air", "Gringotts", "Monarch Solutions", "Massive Dynamic", "Dunder Mifflin"]

JOBS = ["software engineer", "data scientist", "product manager", "designer", "teacher",
        "nurse", "accountant", "sales manager", "chef", "electrician", "architect", "lawyer",
        "pharmacist", "photographer", "writer", "analyst", "consultant", "technician",
        "researcher", "marketing specialist", "customer support agent", "mechanic",
        "pilot", "librarian", "veterinarian", "dentist", "plumber", "journalist"]

DEPARTMENTS = ["Engineering", "Sales", "Marketing", "Finance", "Human Resources", "Support",
               "Operations", "Legal", "Research", "Design", "IT", "Logistics", "Product"]

ADJ = """red blue green black white silver golden small large compact portable wireless smart
classic modern vintage lightweight heavy-duty organic premium deluxe eco-friendly waterproof
ergonomic stainless bamboo leather cotton wooden ceramic digital electric rechargeable foldable
adjustable handmade glass steel soft durable bright quiet fast slow warm cold fresh ancient
tiny huge simple elegant rustic sleek""".split()

NOUNS = """lamp chair desk table keyboard mouse monitor laptop phone charger cable headphones
speaker camera backpack bottle mug kettle toaster blender knife pan pot notebook pen pencil
jacket shirt shoes socks hat scarf watch wallet umbrella tent blanket pillow towel clock
bicycle helmet drone router printer tablet guitar piano book map candle plant vase rug mirror
basket brush sponge bucket ladder hammer drill saw""".split()

CATEGORIES = ["electronics", "home", "kitchen", "office", "clothing", "sports", "outdoors",
              "books", "toys", "garden", "beauty", "health", "automotive", "music", "tools",
              "groceries", "pets", "jewelry", "furniture", "travel"]

COLORS = ["red", "green", "blue", "black", "white", "yellow", "orange", "purple", "pink",
          "gray", "brown", "navy", "teal", "beige", "silver", "gold"]

TAGS = ["new", "sale", "popular", "limited", "bestseller", "eco", "gift", "clearance",
        "featured", "premium", "bundle", "exclusive", "refurbished", "seasonal", "trending"]

STATUSES = ["pending", "processing", "shipped", "delivered", "cancelled", "refunded",
            "active", "inactive", "draft", "published", "archived", "completed", "failed",
            "open", "closed", "in_progress", "approved", "rejected"]

CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "SEK", "INR", "BRL"]

LANGS = ["en", "en-US", "en-GB", "fr", "de", "es", "it", "pt-BR", "ja", "zh", "ko", "nl", "sv"]

TIMEZONES = ["UTC", "America/New_York", "America/Chicago", "America/Los_Angeles",
             "Europe/London", "Europe/Paris", "Europe/Berlin", "Asia/Tokyo", "Asia/Kolkata",
             "Australia/Sydney", "America/Sao_Paulo", "Africa/Nairobi"]

EVENT_KINDS = ["conference", "meetup", "workshop", "concert", "webinar", "festival",
               "hackathon", "lecture", "exhibition", "party", "tournament", "launch"]

TOPICS = ["machine learning", "cloud computing", "climate", "photography", "cooking",
          "gardening", "jazz", "startups", "security", "databases", "open source", "design",
          "robotics", "space", "history", "chess", "running", "astronomy", "poetry", "finance"]

VERBS = ["builds", "finds", "makes", "sees", "likes", "needs", "opens", "closes", "reads",
         "writes", "carries", "moves", "paints", "fixes", "sells", "buys", "checks", "sends",
         "brings", "keeps", "watches", "follows", "answers", "counts", "measures", "cleans"]

PAST_VERBS = ["built", "found", "made", "saw", "liked", "needed", "opened", "closed", "read",
              "wrote", "carried", "moved", "painted", "fixed", "sold", "bought", "checked",
              "sent", "brought", "kept", "watched", "followed", "answered", "counted"]

ADVERBS = ["quickly", "slowly", "carefully", "quietly", "happily", "rarely", "often",
           "always", "never", "sometimes", "easily", "gently", "proudly", "early", "late"]

PLACES = ["in the garden", "at the station", "near the river", "in the kitchen",
          "at the office", "on the hill", "by the lake", "in the library", "at the market",
          "in the city", "on the train", "at school", "in the park", "under the bridge",
          "at home", "in the village", "by the sea", "in the forest"]

TIMES = ["every morning", "on Monday", "last week", "yesterday", "at noon", "in the evening",
         "before dinner", "after lunch", "in the spring", "at night", "on weekends",
         "in 2019", "next year", "today", "in winter", "at dawn"]

WEATHER = ["sunny", "cloudy", "rainy", "windy", "foggy", "snowy", "stormy", "clear",
           "partly cloudy", "humid", "drizzle", "hail"]

FOODS = ["flour", "sugar", "salt", "butter", "eggs", "milk", "olive oil", "garlic", "onion",
         "tomatoes", "basil", "rice", "chicken", "beans", "lemon", "pepper", "cheese",
         "potatoes", "carrots", "mushrooms", "honey", "yogurt", "spinach", "cinnamon"]
UNITS = ["g", "kg", "ml", "l", "cup", "cups", "tbsp", "tsp", "pinch", "piece", "pieces"]
DISHES = ["pancakes", "tomato soup", "fried rice", "lemon cake", "garlic bread", "omelette",
          "bean stew", "mushroom risotto", "chicken curry", "apple pie", "pasta salad",
          "spinach pie", "banana bread", "vegetable soup"]

GENRES = ["fiction", "mystery", "science fiction", "fantasy", "biography", "history",
          "romance", "thriller", "poetry", "comedy", "drama", "documentary", "horror"]
TITLE_WORDS = """Shadow Light River Stone Garden Night Winter Summer Silent Last First Hidden
Lost Golden Iron Glass Paper Ocean Mountain City Star Dream Storm Fire Moon Sun Road House
Secret Empty Long Little Great Broken Distant Quiet Wild""".split()

HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
RESOURCES = ["users", "orders", "products", "items", "accounts", "events", "sessions",
             "invoices", "tickets", "comments", "posts", "files", "projects", "tasks"]

TOOLS = {
    "get_weather": lambda r: {"location": city(r)[0], "unit": r.choice(["celsius", "fahrenheit"])},
    "search_web": lambda r: {"query": r.choice(TOPICS) + " " + r.choice(["news", "tutorial",
                                                                          "history", "tips"]),
                             "max_results": r.choice([3, 5, 10, 20])},
    "send_email": lambda r: {"to": email(r), "subject": sentence(r, words=4).rstrip("."),
                             "body": sentence(r)},
    "create_event": lambda r: {"title": r.choice(TOPICS).title() + " " +
                               r.choice(EVENT_KINDS), "start": datetime(r),
                               "duration_minutes": r.choice([15, 30, 45, 60, 90, 120])},
    "get_stock_price": lambda r: {"symbol": "".join(r.choice(string.ascii_uppercase)
                                                    for _ in range(r.randint(2, 4)))},
    "book_flight": lambda r: {"from": iata(r), "to": iata(r), "date": date(r),
                              "passengers": r.randint(1, 4),
                              "class": r.choice(["economy", "business", "first"])},
    "translate": lambda r: {"text": sentence(r), "target_language": r.choice(LANGS)},
    "calculate": lambda r: {"expression": f"{r.randint(1, 999)} {r.choice('+-*/')} "
                                          f"{r.randint(1, 999)}"},
    "lookup_user": lambda r: {"user_id": r.randint(1, 99999)},
    "set_reminder": lambda r: {"text": r.choice(["call", "email", "visit", "pay"]) + " " +
                               full_name(r), "at": datetime(r)},
}

# ---------------------------------------------------------------------------------------------
# small value generators


def city(r: random.Random) -> tuple[str, str, str]:
    return r.choice(CITIES)


def first_name(r: random.Random) -> str:
    return r.choice(FIRST_UNICODE) if r.random() < 0.06 else r.choice(FIRST)


def full_name(r: random.Random) -> str:
    return f"{first_name(r)} {r.choice(LAST)}"


def slug(text: str) -> str:
    out = "".join(c.lower() if c.isalnum() else "_" for c in text.encode("ascii", "ignore")
                  .decode())
    return out.strip("_") or "x"


def email(r: random.Random, name: str | None = None) -> str:
    name = name or full_name(r)
    first, _, last = name.partition(" ")
    first, last = slug(first), slug(last or "user")
    local = r.choice([f"{first}.{last}", f"{first}{last}", f"{first[0]}{last}",
                      f"{first}_{last}", f"{first}{r.randint(1, 99)}", f"{last}.{first}"])
    return f"{local}@{r.choice(DOMAINS)}"


def uuid4(r: random.Random) -> str:
    h = "%032x" % r.getrandbits(128)
    h = h[:12] + "4" + h[13:16] + r.choice("89ab") + h[17:]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def date(r: random.Random, lo: int = 1990, hi: int = 2026) -> str:
    return f"{r.randint(lo, hi):04d}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"


def time_(r: random.Random, seconds: bool = True) -> str:
    t = f"{r.randint(0, 23):02d}:{r.choice([0, 15, 30, 45, r.randint(0, 59)]):02d}"
    return t + f":{r.randint(0, 59):02d}" if seconds else t


def datetime(r: random.Random) -> str:
    tz = r.choice(["Z", "Z", "Z", "+00:00", "+01:00", "-05:00", "+09:00", "-08:00", "+05:30"])
    frac = f".{r.randint(0, 999):03d}" if r.random() < 0.2 else ""
    return f"{date(r, 2015, 2026)}T{time_(r)}{frac}{tz}"


def phone(r: random.Random) -> str:
    a, b, c = r.randint(200, 989), r.randint(200, 999), r.randint(0, 9999)
    return r.choice([f"+1-{a}-{b}-{c:04d}", f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}",
                     f"+1 {a} {b} {c:04d}", f"{a}.{b}.{c:04d}",
                     f"+44 20 {r.randint(1000, 9999)} {r.randint(1000, 9999)}",
                     f"+49 30 {r.randint(100000, 9999999)}",
                     f"+33 1 {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)} "
                     f"{r.randint(10, 99)}"])


def zip_code(r: random.Random, country: str) -> str:
    if country == "US":
        return f"{r.randint(10000, 99999)}" + (f"-{r.randint(1000, 9999)}"
                                               if r.random() < 0.1 else "")
    if country == "GB":
        return (f"{r.choice(['SW', 'NW', 'E', 'W', 'EC', 'M', 'EH'])}{r.randint(1, 20)} "
                f"{r.randint(1, 9)}{r.choice('ABDEFGHJLNPQRSTUWXYZ')}"
                f"{r.choice('ABDEFGHJLNPQRSTUWXYZ')}")
    if country == "CA":
        L, D = string.ascii_uppercase, string.digits
        return (f"{r.choice(L)}{r.choice(D)}{r.choice(L)} {r.choice(D)}{r.choice(L)}"
                f"{r.choice(D)}")
    return f"{r.randint(1000, 99999)}"


def street(r: random.Random) -> str:
    return f"{r.randint(1, 9999)} {r.choice(STREETS)} {r.choice(STREET_KINDS)}"


def url(r: random.Random) -> str:
    path = "/".join(r.choice(RESOURCES + TOPICS[:5]).replace(" ", "-")
                    for _ in range(r.randint(0, 3)))
    q = f"?id={r.randint(1, 9999)}" if r.random() < 0.2 else ""
    return f"https://{r.choice(['www.', 'api.', '', 'docs.'])}{r.choice(DOMAINS)}/{path}{q}"


def ipv4(r: random.Random) -> str:
    return ".".join(str(r.randint(0, 255)) for _ in range(4))


def iata(r: random.Random) -> str:
    return r.choice(["JFK", "LAX", "SFO", "ORD", "LHR", "CDG", "FRA", "AMS", "MAD", "NRT",
                     "HND", "SIN", "SYD", "YYZ", "BOS", "SEA", "DEN", "DXB", "GRU", "ZRH"])


def hex_color(r: random.Random) -> str:
    return "#%06x" % r.getrandbits(24) if r.random() < 0.7 else "#%06X" % r.getrandbits(24)


def version(r: random.Random) -> str:
    v = f"{r.randint(0, 5)}.{r.randint(0, 20)}.{r.randint(0, 30)}"
    return v + (r.choice(["-beta.1", "-rc.2", "-alpha"]) if r.random() < 0.1 else "")


def price(r: random.Random) -> float:
    return round(r.choice([r.uniform(1, 50), r.uniform(10, 300), r.uniform(100, 2500)]), 2)


def money(r: random.Random) -> float:
    return round(r.uniform(5, 900), 2)


def sku(r: random.Random) -> str:
    return (f"{''.join(r.choice(string.ascii_uppercase) for _ in range(3))}-"
            f"{r.randint(1000, 99999)}")


def product_name(r: random.Random) -> str:
    n = f"{r.choice(ADJ).capitalize()} {r.choice(NOUNS).capitalize()}"
    return n + (f" {r.choice(['Pro', 'Mini', 'Max', 'Plus', 'Lite', 'X', '2'])}"
                if r.random() < 0.3 else "")


def title(r: random.Random) -> str:
    k = r.randint(1, 4)
    words = r.sample(TITLE_WORDS, k)
    return r.choice(["The ", "", "", "A "]) + " ".join(words) if k > 1 else \
        f"The {words[0]} of {r.choice(TITLE_WORDS)}"


def sentence(r: random.Random, words: int | None = None) -> str:
    if words is not None and words <= 4:
        kind = r.choice(["update", "report", "request", "notice", "reminder"])
        s = f"{r.choice(ADJ)} {r.choice(NOUNS)} {kind}"
        return s[0].upper() + s[1:] + "."
    subj = r.choice([full_name(r), f"The {r.choice(ADJ)} {r.choice(NOUNS)}",
                     r.choice(["She", "He", "The team", "My friend", "The teacher",
                               "Our neighbor", "Everyone"])])
    low = subj if subj.split()[0] not in ("The", "She", "He", "My", "Our", "Everyone") \
        else subj[0].lower() + subj[1:]
    forms = [
        lambda: f"{subj} {r.choice(VERBS)} a {r.choice(ADJ)} {r.choice(NOUNS)} {r.choice(PLACES)}.",
        lambda: f"{subj} {r.choice(PAST_VERBS)} the {r.choice(NOUNS)} {r.choice(TIMES)}.",
        lambda: f"{subj} {r.choice(ADVERBS)} {r.choice(VERBS)} {r.choice(['the', 'a', 'every'])} "
                f"{r.choice(NOUNS)}.",
        lambda: f"{r.choice(TIMES).capitalize()}, {low} "
                f"{r.choice(PAST_VERBS)} {r.randint(2, 40)} {plural(r.choice(NOUNS))} "
                f"{r.choice(PLACES)}.",
        lambda: f"The weather in {city(r)[0]} is {r.choice(WEATHER)} and "
                f"{r.randint(-10, 38)} degrees.",
        lambda: f"It was {r.choice(WEATHER)} {r.choice(TIMES)}, so {low} "
                f"stayed {r.choice(PLACES)}.",
        lambda: f"Is the {r.choice(NOUNS)} {r.choice(PLACES)}?",
        lambda: f"{subj} {r.choice(['likes', 'loves', 'studies', 'writes about', 'talks about'])} "
                f"{r.choice(TOPICS)}.",
        lambda: f"{subj} works as a {r.choice(JOBS)} at {r.choice(COMPANIES)} in {city(r)[0]}.",
    ]
    return r.choice(forms)()


def plural(noun: str) -> str:
    if noun.endswith(("s", "sh", "ch", "x")):
        return noun + "es" if not noun.endswith("headphones") else noun
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    if noun == "knife":
        return "knives"
    return noun + "s"


def article(word: str) -> str:
    an = word[:1] in "aeiouAEIO" and not word.startswith(("UUID", "URL", "user", "uni"))
    return ("an " if an else "a ") + word


def paragraph(r: random.Random) -> str:
    return " ".join(sentence(r) for _ in range(r.randint(2, 6)))


# ---------------------------------------------------------------------------------------------
# JSON document generators: each returns (kind, object)


def maybe(r: random.Random, p: float, d: dict[str, Any], key: str, fn: Callable[[], Any]) -> None:
    if r.random() < p:
        d[key] = fn()


def gen_address(r: random.Random) -> dict[str, Any]:
    c, st, cc = city(r)
    d: dict[str, Any] = {"street": street(r), "city": c}
    if st:
        d["state"] = st
    d[r.choice(["zip", "postal_code", "postalCode", "zip"])] = zip_code(r, cc)
    d["country"] = r.choice([cc, COUNTRY_NAMES[cc]])
    if r.random() < 0.15:
        d = {"line1": d.pop("street"), **({"line2": f"Apt {r.randint(1, 999)}"}
                                          if r.random() < 0.5 else {}), **d}
    return d


def gen_user(r: random.Random) -> dict[str, Any]:
    name = full_name(r)
    first, _, last = name.partition(" ")
    style = r.random()
    d: dict[str, Any] = {}
    if r.random() < 0.6:
        d["id"] = r.choice([r.randint(1, 100000), uuid4(r)])
    if style < 0.5:
        d["name"] = name
    elif style < 0.8:
        d["first_name"], d["last_name"] = first, last
    else:
        d["firstName"], d["lastName"] = first, last
    maybe(r, 0.7, d, "age", lambda: r.randint(16, 90))
    maybe(r, 0.7, d, "email", lambda: email(r, name))
    maybe(r, 0.3, d, "phone", lambda: phone(r))
    maybe(r, 0.2, d, "username", lambda: slug(first) + str(r.randint(1, 999)))
    maybe(r, 0.4, d, "is_active" if r.random() < 0.6 else "active", lambda: r.random() < 0.8)
    maybe(r, 0.3, d, "address", lambda: gen_address(r))
    maybe(r, 0.2, d, "birthdate" if r.random() < 0.5 else "date_of_birth",
          lambda: date(r, 1940, 2008))
    maybe(r, 0.25, d, "roles", lambda: r.sample(["admin", "user", "editor", "viewer", "owner",
                                                 "guest"], r.randint(1, 3)))
    maybe(r, 0.2, d, "occupation", lambda: r.choice(JOBS))
    maybe(r, 0.15, d, "company", lambda: r.choice(COMPANIES + [None]))
    maybe(r, 0.15, d, "created_at", lambda: datetime(r))
    maybe(r, 0.15, d, "tags", lambda: r.sample(TAGS, r.randint(0, 3)))
    maybe(r, 0.1, d, "score", lambda: round(r.uniform(0, 100), r.choice([0, 1, 2])))
    maybe(r, 0.1, d, "manager", lambda: None if r.random() < 0.5 else {"name": full_name(r),
                                                                       "id": r.randint(1, 999)})
    maybe(r, 0.1, d, "preferences", lambda: {"newsletter": r.random() < 0.5,
                                             "theme": r.choice(["light", "dark", "system"]),
                                             "language": r.choice(LANGS)})
    if not d or ("name" not in d and "first_name" not in d and "firstName" not in d):
        d["name"] = name
    return d


def gen_product(r: random.Random) -> dict[str, Any]:
    d: dict[str, Any] = {}
    maybe(r, 0.6, d, "id", lambda: r.choice([r.randint(1, 99999), sku(r), uuid4(r)]))
    d["name"] = product_name(r)
    d["price"] = price(r)
    maybe(r, 0.4, d, "currency", lambda: r.choice(CURRENCIES))
    maybe(r, 0.5, d, "in_stock" if r.random() < 0.7 else "available", lambda: r.random() < 0.75)
    maybe(r, 0.4, d, "category", lambda: r.choice(CATEGORIES))
    maybe(r, 0.35, d, "tags", lambda: r.sample(TAGS, r.randint(0, 4)))
    maybe(r, 0.3, d, "description", lambda: sentence(r))
    maybe(r, 0.3, d, "rating", lambda: round(r.uniform(1, 5), 1))
    maybe(r, 0.2, d, "stock", lambda: r.randint(0, 500))
    maybe(r, 0.2, d, "dimensions", lambda: {"width": round(r.uniform(1, 100), 1),
                                            "height": round(r.uniform(1, 100), 1),
                                            "depth": round(r.uniform(1, 50), 1),
                                            "unit": r.choice(["cm", "in"])})
    maybe(r, 0.15, d, "weight_kg", lambda: round(r.uniform(0.05, 30), 2))
    maybe(r, 0.15, d, "colors", lambda: r.sample(COLORS, r.randint(1, 4)))
    maybe(r, 0.1, d, "discount", lambda: r.choice([None, 0.1, 0.15, 0.2, 0.25, 0.5]))
    maybe(r, 0.1, d, "sku", lambda: sku(r))
    return d


def gen_order(r: random.Random) -> dict[str, Any]:
    items = []
    for _ in range(r.randint(1, 5)):
        it: dict[str, Any] = {"product_id" if r.random() < 0.5 else "sku":
                              r.choice([r.randint(1, 9999), sku(r)]),
                              "quantity": r.randint(1, 10), "unit_price": price(r)}
        if r.random() < 0.5:
            it = {"name": product_name(r), **it}
        items.append(it)
    total = round(sum(i["quantity"] * i["unit_price"] for i in items), 2)
    d: dict[str, Any] = {"order_id": r.choice([f"ORD-{r.randint(10000, 999999)}", uuid4(r),
                                               r.randint(1000, 999999)])}
    d["customer"] = r.choice([{"name": full_name(r), "email": email(r)},
                              {"id": r.randint(1, 99999)}, full_name(r)])
    d["items"] = items
    d["total"] = total
    maybe(r, 0.6, d, "currency", lambda: r.choice(CURRENCIES))
    maybe(r, 0.7, d, "status", lambda: r.choice(STATUSES[:6]))
    maybe(r, 0.5, d, "created_at", lambda: datetime(r))
    maybe(r, 0.4, d, "shipping_address", lambda: gen_address(r))
    maybe(r, 0.2, d, "paid", lambda: r.random() < 0.8)
    maybe(r, 0.15, d, "notes", lambda: None if r.random() < 0.5 else sentence(r))
    return d


def gen_event(r: random.Random) -> dict[str, Any]:
    c, _, cc = city(r)
    d: dict[str, Any] = {"title": f"{r.choice(TOPICS).title()} {r.choice(EVENT_KINDS).title()} "
                                  f"{r.randint(2018, 2026)}"}
    d["date" if r.random() < 0.5 else "start"] = r.choice([date(r, 2018, 2027), datetime(r)])
    maybe(r, 0.4, d, "end", lambda: datetime(r))
    maybe(r, 0.7, d, "location", lambda: r.choice([f"{c}, {COUNTRY_NAMES[cc]}", c,
                                                   {"city": c, "country": cc,
                                                    "venue": f"{r.choice(STREETS)} Hall"},
                                                   "online"]))
    maybe(r, 0.4, d, "attendees", lambda: [full_name(r) for _ in range(r.randint(0, 5))])
    maybe(r, 0.3, d, "capacity", lambda: r.choice([20, 50, 100, 250, 500, 1000, 5000]))
    maybe(r, 0.3, d, "tags", lambda: r.sample(TOPICS, r.randint(1, 3)))
    maybe(r, 0.3, d, "is_public", lambda: r.random() < 0.7)
    maybe(r, 0.2, d, "organizer", lambda: {"name": full_name(r), "email": email(r)})
    maybe(r, 0.2, d, "timezone", lambda: r.choice(TIMEZONES))
    maybe(r, 0.15, d, "price", lambda: r.choice([0, 0.0, 10, 25.5, 99.99, None]))
    return d


def gen_config(r: random.Random) -> dict[str, Any]:
    d: dict[str, Any] = {}
    maybe(r, 0.6, d, "name", lambda: r.choice(["api", "web", "worker", "scheduler", "gateway",
                                               "auth-service", "billing", "search"]))
    maybe(r, 0.6, d, "version", lambda: version(r))
    maybe(r, 0.5, d, "debug", lambda: r.random() < 0.3)
    maybe(r, 0.5, d, "server", lambda: {"host": r.choice(["0.0.0.0", "localhost", "127.0.0.1",
                                                          ipv4(r)]),
                                        "port": r.choice([80, 443, 3000, 5000, 8000, 8080,
                                                          8443, 9000]),
                                        **({"workers": r.randint(1, 16)}
                                           if r.random() < 0.5 else {})})
    maybe(r, 0.5, d, "database", lambda: {"url": f"postgres://{slug(r.choice(FIRST))}:secret@"
                                                 f"db.{r.choice(DOMAINS)}:5432/"
                                                 f"{r.choice(RESOURCES)}",
                                          "pool_size": r.choice([5, 10, 20]),
                                          "timeout": r.choice([5, 10, 30, 30.0])})
    maybe(r, 0.4, d, "logging", lambda: {"level": r.choice(["debug", "info", "warning",
                                                            "error"]),
                                         "format": r.choice(["json", "text"]),
                                         "file": r.choice([None, "/var/log/app.log"])})
    maybe(r, 0.3, d, "features", lambda: {k: r.random() < 0.5 for k in
                                          r.sample(["beta", "dark_mode", "cache", "metrics",
                                                    "tracing", "signup", "export"],
                                                   r.randint(1, 4))})
    maybe(r, 0.3, d, "retry", lambda: {"max_attempts": r.randint(1, 10),
                                       "backoff_seconds": r.choice([0.5, 1, 2, 5])})
    maybe(r, 0.2, d, "allowed_origins", lambda: [url(r) for _ in range(r.randint(1, 3))])
    maybe(r, 0.2, d, "timezone", lambda: r.choice(TIMEZONES))
    if not d:
        d["enabled"] = True
    return d


def gen_api_call(r: random.Random) -> dict[str, Any]:
    if r.random() < 0.6:
        name = r.choice(sorted(TOOLS))
        args = TOOLS[name](r)
        return r.choice([{"name": name, "arguments": args},
                         {"tool": name, "parameters": args},
                         {"function": {"name": name, "arguments": args}},
                         {"type": "function_call", "name": name, "arguments": args}])
    method = r.choice(HTTP_METHODS)
    res = r.choice(RESOURCES)
    d: dict[str, Any] = {"method": method,
                         "path": f"/api/v{r.randint(1, 3)}/{res}" +
                                 (f"/{r.randint(1, 9999)}" if r.random() < 0.5 else "")}
    if r.random() < 0.5:
        d["headers"] = {"Content-Type": "application/json",
                        "Authorization": "Bearer " + "".join(r.choice(string.ascii_letters +
                                                                      string.digits)
                                                             for _ in range(24))}
    if method in ("POST", "PUT", "PATCH"):
        d["body"] = r.choice([gen_user, gen_product, gen_task])(r)
    if r.random() < 0.3:
        d["query"] = {"page": r.randint(1, 20), "limit": r.choice([10, 20, 50, 100])}
    return d


def gen_api_response(r: random.Random) -> dict[str, Any]:
    ok = r.random() < 0.8
    if not ok:
        return {"error": {"code": r.choice([400, 401, 403, 404, 409, 422, 429, 500, 503]),
                          "message": r.choice(["Not found", "Invalid request", "Unauthorized",
                                               "Rate limit exceeded", "Internal server error",
                                               f"Field '{r.choice(['email', 'name', 'id'])}' "
                                               "is required"])},
                "success": False}
    gen = r.choice([gen_user, gen_product, gen_task, gen_event])
    items = [gen(r) for _ in range(r.randint(0, 3))]
    return r.choice([{"data": items, "page": r.randint(1, 9), "total": r.randint(len(items), 500)},
                     {"success": True, "result": items[0] if items else None},
                     {"status": "ok", "count": len(items), "items": items}])


def gen_task(r: random.Random) -> dict[str, Any]:
    d: dict[str, Any] = {"id": r.randint(1, 9999), "title": sentence(r, words=4).rstrip(".")}
    d["completed" if r.random() < 0.5 else "done"] = r.random() < 0.4
    maybe(r, 0.5, d, "priority", lambda: r.choice(["low", "medium", "high", "urgent", 1, 2, 3]))
    maybe(r, 0.4, d, "due", lambda: date(r, 2023, 2027))
    maybe(r, 0.3, d, "assignee", lambda: r.choice([full_name(r), None]))
    maybe(r, 0.3, d, "labels", lambda: r.sample(["bug", "feature", "docs", "ui", "backend",
                                                 "urgent", "question"], r.randint(0, 3)))
    maybe(r, 0.2, d, "subtasks", lambda: [{"title": sentence(r, words=4).rstrip("."),
                                           "done": r.random() < 0.5}
                                          for _ in range(r.randint(1, 3))])
    return d


def gen_log(r: random.Random) -> dict[str, Any]:
    d: dict[str, Any] = {"timestamp": datetime(r),
                         "level": r.choice(["DEBUG", "INFO", "INFO", "WARN", "ERROR"]),
                         "message": r.choice([f"Request {r.choice(HTTP_METHODS)} /api/"
                                              f"{r.choice(RESOURCES)} completed",
                                              "Connection established", "Cache miss",
                                              f"User {r.randint(1, 9999)} logged in",
                                              "Timeout while waiting for response",
                                              f"Processed {r.randint(1, 5000)} records"])}
    maybe(r, 0.5, d, "service", lambda: r.choice(["api", "web", "worker", "db", "auth"]))
    maybe(r, 0.4, d, "duration_ms", lambda: r.randint(1, 5000))
    maybe(r, 0.3, d, "request_id", lambda: uuid4(r))
    maybe(r, 0.3, d, "ip", lambda: ipv4(r))
    maybe(r, 0.2, d, "status_code", lambda: r.choice([200, 201, 204, 301, 400, 404, 500]))
    return d


def gen_review(r: random.Random) -> dict[str, Any]:
    rating = r.randint(1, 5)
    d: dict[str, Any] = {"product": product_name(r), "rating": rating,
                         "review": r.choice(["Great product, works as expected.",
                                             "Not worth the price.", "Broke after a week.",
                                             "Exactly what I needed!", "Average quality.",
                                             "Fast shipping and good packaging.",
                                             sentence(r)])}
    maybe(r, 0.5, d, "author", lambda: full_name(r))
    maybe(r, 0.4, d, "date", lambda: date(r, 2015, 2026))
    maybe(r, 0.4, d, "sentiment", lambda: "positive" if rating >= 4 else
          ("neutral" if rating == 3 else "negative"))
    maybe(r, 0.3, d, "verified_purchase", lambda: r.random() < 0.7)
    maybe(r, 0.2, d, "helpful_votes", lambda: r.randint(0, 300))
    return d


def gen_recipe(r: random.Random) -> dict[str, Any]:
    return {"name": r.choice(DISHES).title(), "servings": r.randint(1, 8),
            "prep_time_minutes": r.choice([5, 10, 15, 20, 30, 45]),
            "ingredients": [{"item": f, "amount": r.choice([1, 2, 3, 0.5, 100, 250, 500]),
                             "unit": r.choice(UNITS)} for f in r.sample(FOODS, r.randint(2, 6))],
            "steps": [sentence(r) for _ in range(r.randint(1, 4))],
            **({"vegetarian": r.random() < 0.5} if r.random() < 0.5 else {})}


def gen_book(r: random.Random) -> dict[str, Any]:
    d: dict[str, Any] = {"title": title(r), "author": full_name(r),
                         "year": r.randint(1800, 2025)}
    maybe(r, 0.5, d, "genre", lambda: r.choice(GENRES))
    maybe(r, 0.4, d, "isbn", lambda: f"978-{r.randint(0, 9)}-{r.randint(100, 999)}-"
                                     f"{r.randint(10000, 99999)}-{r.randint(0, 9)}")
    maybe(r, 0.3, d, "pages", lambda: r.randint(80, 1200))
    maybe(r, 0.3, d, "rating", lambda: round(r.uniform(1, 5), 2))
    maybe(r, 0.2, d, "available", lambda: r.random() < 0.5)
    return d


def gen_weather(r: random.Random) -> dict[str, Any]:
    c = city(r)[0]
    d: dict[str, Any] = {"location": c, "temperature": round(r.uniform(-15, 40), 1),
                         "unit": r.choice(["celsius", "C", "fahrenheit"]),
                         "conditions": r.choice(WEATHER)}
    maybe(r, 0.5, d, "humidity", lambda: r.randint(10, 100))
    maybe(r, 0.4, d, "wind_speed", lambda: round(r.uniform(0, 60), 1))
    maybe(r, 0.3, d, "forecast", lambda: [{"day": day, "high": r.randint(0, 35),
                                           "low": r.randint(-10, 20),
                                           "conditions": r.choice(WEATHER)}
                                          for day in r.sample(["Mon", "Tue", "Wed", "Thu",
                                                               "Fri", "Sat", "Sun"],
                                                              r.randint(1, 4))])
    return d


def gen_employee(r: random.Random) -> dict[str, Any]:
    name = full_name(r)
    return {"employee_id": f"E{r.randint(1000, 99999)}", "name": name,
            "department": r.choice(DEPARTMENTS), "title": r.choice(JOBS).title(),
            "salary": r.choice([r.randint(30, 250) * 1000, round(r.uniform(30000, 250000), 2)]),
            "hire_date": date(r, 1995, 2026), "email": email(r, name),
            **({"skills": r.sample(["python", "sql", "excel", "java", "rust", "go", "design",
                                    "sales", "writing", "leadership"], r.randint(1, 4))}
               if r.random() < 0.5 else {}),
            **({"remote": r.random() < 0.5} if r.random() < 0.5 else {})}


def gen_extraction(r: random.Random) -> dict[str, Any]:
    """Entity / classification outputs, the shape of 'extract X from this text' answers."""
    kind = r.random()
    if kind < 0.35:
        return {"sentiment": r.choice(["positive", "negative", "neutral"]),
                "confidence": round(r.random(), 2)}
    if kind < 0.65:
        return {"entities": [{"text": r.choice([full_name(r), city(r)[0], r.choice(COMPANIES)]),
                              "type": r.choice(["PERSON", "LOCATION", "ORG", "DATE"])}
                             for _ in range(r.randint(1, 4))]}
    if kind < 0.85:
        return {"answer": r.choice(["yes", "no", "maybe", str(r.randint(0, 100)),
                                    city(r)[0], full_name(r)]),
                "reasoning": sentence(r)}
    return {"category": r.choice(CATEGORIES), "labels": r.sample(TAGS, r.randint(1, 3)),
            "score": round(r.random(), 3)}


def gen_geo(r: random.Random) -> dict[str, Any]:
    lat, lon = round(r.uniform(-90, 90), r.randint(2, 6)), round(r.uniform(-180, 180),
                                                                 r.randint(2, 6))
    return r.choice([{"type": "Point", "coordinates": [lon, lat]},
                     {"latitude": lat, "longitude": lon, "name": city(r)[0]},
                     {"lat": lat, "lng": lon}])


def gen_misc(r: random.Random) -> Any:
    """Bare values and small arrays: JSON texts that are not objects."""
    k = r.random()
    if k < 0.2:
        return [r.randint(-1000, 1000) for _ in range(r.randint(0, 8))]
    if k < 0.4:
        return [r.choice(NOUNS + COLORS) for _ in range(r.randint(1, 6))]
    if k < 0.55:
        return [gen_user(r) for _ in range(r.randint(1, 3))]
    if k < 0.7:
        return r.choice([True, False, None, r.randint(-10 ** 6, 10 ** 6),
                         round(r.uniform(-1000, 1000), r.randint(1, 6)), r.random(), 0,
                         1e-5, 6.02e23, -0.5])
    if k < 0.8:
        return r.choice([full_name(r), sentence(r), date(r), email(r), uuid4(r)])
    return {r.choice(["matrix", "grid", "values"]): [[r.randint(0, 9) for _ in range(3)]
                                                     for _ in range(r.randint(1, 3))]}


GENERATORS: list[tuple[str, Callable[[random.Random], Any], float]] = [
    ("user", gen_user, 3.0), ("person", gen_user, 1.0), ("address", gen_address, 1.0),
    ("product", gen_product, 2.0), ("order", gen_order, 1.5), ("event", gen_event, 1.2),
    ("config", gen_config, 1.0), ("tool call", gen_api_call, 1.5),
    ("API response", gen_api_response, 1.0), ("task", gen_task, 1.0), ("log entry", gen_log, 0.8),
    ("review", gen_review, 0.8), ("recipe", gen_recipe, 0.6), ("book", gen_book, 0.8),
    ("weather report", gen_weather, 0.7), ("employee", gen_employee, 0.8),
    ("answer", gen_extraction, 1.0), ("location", gen_geo, 0.4), ("value", gen_misc, 0.8),
]

# ---------------------------------------------------------------------------------------------
# serialization and schemas


def dump(r: random.Random, obj: Any) -> str:
    ascii_ = r.random() < 0.15
    k = r.random()
    if k < 0.3:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=ascii_)
    if k < 0.55:
        return json.dumps(obj, ensure_ascii=ascii_)
    if k < 0.9:
        return json.dumps(obj, indent=2, ensure_ascii=ascii_)
    return json.dumps(obj, indent=4, ensure_ascii=ascii_)


def schema_of(obj: Any, r: random.Random, depth: int = 0) -> dict[str, Any]:
    """A plausible JSON Schema that ``obj`` satisfies (as a user would write one)."""
    if isinstance(obj, bool):
        return {"type": "boolean"}
    if obj is None:
        return {"type": "null"}
    if isinstance(obj, int):
        s: dict[str, Any] = {"type": "integer"}
        if r.random() < 0.2 and obj >= 0:
            s["minimum"] = 0
        return s
    if isinstance(obj, float):
        return {"type": "number"}
    if isinstance(obj, str):
        s = {"type": "string"}
        if r.random() < 0.3:
            if len(obj) == 10 and obj[4:5] == "-" and obj[7:8] == "-":
                s["format"] = "date"
            elif "T" in obj and obj[:4].isdigit() and len(obj) >= 19:
                s["format"] = "date-time"
            elif "@" in obj and " " not in obj:
                s["format"] = "email"
            elif len(obj) == 36 and obj.count("-") == 4:
                s["format"] = "uuid"
        return s
    if isinstance(obj, list):
        s = {"type": "array"}
        if obj:
            s["items"] = schema_of(obj[0], r, depth + 1)
        return s
    props = {k: schema_of(v, r, depth + 1) for k, v in obj.items()}
    s = {"type": "object", "properties": props}
    if r.random() < 0.7:
        s["required"] = [k for k in obj if r.random() < 0.7] or list(obj)[:1]
    if r.random() < 0.3 and depth == 0:
        s["additionalProperties"] = False
    return s


PROMPTS = [
    "Give me {a_kind} as JSON:\n", "Give me {a_kind} as JSON.\n",
    "Return {a_kind} in JSON format.\n",
    "Generate a JSON object describing {a_kind}.\n", "Output {a_kind} as JSON:\n",
    "Create a sample {kind} (JSON only):\n", "JSON for {a_kind}:\n", "Example {kind}:\n",
    "Respond with {a_kind} in JSON.\n\n", "Write {a_kind} object in JSON.\n",
    "Please produce a valid JSON {kind}.\n", "Here is {a_kind} in JSON:\n",
]


def prompt_doc(r: random.Random, kind: str, obj: Any) -> str:
    body = dump(r, obj)
    k = r.random()
    if k < 0.5:
        return r.choice(PROMPTS).format(kind=kind, a_kind=article(kind)) + body
    if k < 0.65:
        schema = schema_of(obj, r)
        sdump = json.dumps(schema, separators=(",", ":")) if r.random() < 0.6 else \
            json.dumps(schema)
        return r.choice(["Generate JSON matching this schema: ",
                         "Return JSON that validates against the schema ",
                         "Schema: "]) + sdump + "\n" + body
    if k < 0.8:
        ask = r.choice(PROMPTS).format(kind=kind, a_kind=article(kind)).strip()
        return f"User: {ask}\nAssistant: " + body
    if k < 0.9:
        return f"Q: What is a typical {kind}? Answer in JSON.\nA: " + body
    text = sentence(r)
    return (f"Extract the data from the text as JSON.\nText: {text}\nJSON: " + body)


# ---------------------------------------------------------------------------------------------
# non-JSON documents


def regex_line(r: random.Random) -> str:
    k = r.randrange(14)
    if k == 0:
        return f"Phone: {phone(r)}"
    if k == 1:
        return f"Date: {date(r)}"
    if k == 2:
        return f"Email: {email(r)}"
    if k == 3:
        return f"ID: {uuid4(r)}"
    if k == 4:
        return f"IP address: {ipv4(r)}"
    if k == 5:
        return f"URL: {url(r)}"
    if k == 6:
        c, st, cc = city(r)
        return f"{street(r)}, {c}{', ' + st if st else ''} {zip_code(r, cc)}"
    if k == 7:
        return f"Color: {hex_color(r)}"
    if k == 8:
        return f"Version {version(r)}"
    if k == 9:
        return f"Time: {time_(r, r.random() < 0.5)}"
    if k == 10:
        return f"{datetime(r)} {r.choice(['INFO', 'WARN', 'ERROR'])} {sentence(r, words=4)}"
    if k == 11:
        return f"Price: ${price(r):.2f}"
    if k == 12:
        return f"Order #{r.randint(1000, 999999)} shipped on {date(r, 2020, 2026)}."
    return f"{full_name(r)} <{email(r)}>"


BARE_VALUES: dict[str, Callable[[random.Random], str]] = {
    "phone number": phone, "date": date, "email address": email, "UUID": uuid4,
    "IP address": ipv4, "URL": url, "hex color": hex_color, "version number": version,
    "timestamp": datetime, "time": time_, "number": lambda r: str(r.randint(0, 99999)),
    "price": lambda r: f"{price(r):.2f}", "name": full_name,
    "postal code": lambda r: zip_code(r, r.choice(["US", "GB", "CA"])),
}


def text_doc(r: random.Random) -> str:
    k = r.random()
    if k < 0.35:
        return paragraph(r)
    if k < 0.55:
        return "\n".join(regex_line(r) for _ in range(r.randint(1, 6)))
    if k < 0.7:
        kind = r.choice(sorted(BARE_VALUES))
        return f"{r.choice(['Give me', 'Write', 'Output', 'Example of'])} {article(kind)}: " + \
            BARE_VALUES[kind](r)
    if k < 0.85:
        q = r.choice([f"Summarize this: {paragraph(r)}\n", f"Translate to French: {sentence(r)}\n",
                      f"Classify the sentiment: {sentence(r)}\n",
                      f"What is the capital of {r.choice(list(COUNTRY_NAMES.values()))}?\n",
                      f"Write one sentence about {r.choice(TOPICS)}.\n"])
        return q + sentence(r)
    if k < 0.93:
        return "\n".join(f"- {sentence(r)}" for _ in range(r.randint(2, 5)))
    return f"# {title(r)}\n\n{paragraph(r)}"


def document(seed: int, i: int) -> str:
    """Document ``i`` of the corpus for ``seed`` (independent of how many are generated)."""
    r = random.Random(f"{seed}:{i}")
    k = r.random()
    if k < 0.22:
        return text_doc(r)
    kinds, fns, weights = zip(*GENERATORS)
    j = r.choices(range(len(GENERATORS)), weights=weights)[0]
    obj = fns[j](r)
    if k < 0.55:
        return prompt_doc(r, kinds[j], obj)
    return dump(r, obj)


def is_heldout(i: int) -> bool:
    return i % HELDOUT_EVERY == HELDOUT_EVERY - 1


def documents(seed: int = DEFAULT_SEED, n: int = DEFAULT_DOCS, *,
              heldout: bool | None = None) -> list[str]:
    """The first ``n`` documents (all, only held-out ones, or only training ones)."""
    return [document(seed, i) for i in range(n)
            if heldout is None or is_heldout(i) == heldout]


def write_corpus(out: Path, seed: int = DEFAULT_SEED, n: int = DEFAULT_DOCS) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"seed": seed, "documents": n, "heldout_every": HELDOUT_EVERY}
    files = {"train": out / "train.jsonl", "heldout": out / "heldout.jsonl"}
    handles = {k: open(p, "w", encoding="utf-8") for k, p in files.items()}
    counts = {"train": 0, "heldout": 0}
    nbytes = {"train": 0, "heldout": 0}
    try:
        for i in range(n):
            doc = document(seed, i)
            part = "heldout" if is_heldout(i) else "train"
            handles[part].write(json.dumps(doc, ensure_ascii=False) + "\n")
            counts[part] += 1
            nbytes[part] += len(doc.encode("utf-8"))
    finally:
        for h in handles.values():
            h.close()
    for part, path in files.items():
        meta[f"{part}_documents"] = counts[part]
        meta[f"{part}_bytes"] = nbytes[part]
        meta[f"{part}_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def read_split(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default="build/corpus", help="output directory")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--docs", type=int, default=DEFAULT_DOCS, help="number of documents")
    ap.add_argument("--show", type=int, default=0, help="print the first N documents and exit")
    args = ap.parse_args(argv)
    if args.show:
        for i in range(args.show):
            print(f"--- {i}{' (held out)' if is_heldout(i) else ''}")
            print(document(args.seed, i))
        return 0
    meta = write_corpus(Path(args.out), args.seed, args.docs)
    print(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
