"""``voicebot customers``: the customer store the dialog identifies callers against.

``import FILE.csv`` adds customers (all rows or none; a bad row is named with its column,
see :mod:`voicebot.customer_import`), ``list`` shows who is in the store (masked: account
numbers to their last 4 digits, no secrets), ``seed-demo`` adds the six demo customers
(known PINs: for a demo or a test store only).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "import customers from CSV, list them (masked), or seed the demo customers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="the store file (default: var/customers.sqlite3)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="add the customers of a CSV file (all or nothing)")
    imp.add_argument("file", help="CSV with account_number,name,pin,date_of_birth[,...]")
    sub.add_parser("list", help="who is in the store (account numbers masked)")
    sub.add_parser("seed-demo", help="add the six demo customers (known PINs: demo only)")


def run(args: argparse.Namespace) -> int:
    from voicebot.customer_import import import_customers
    from voicebot.customers import CustomerStore
    from voicebot.redaction import mask_account

    store = CustomerStore(Path(args.store) if args.store else None)
    if args.action == "import":
        added = import_customers(store, Path(args.file))
        print(f"imported {added} customer(s) into {store.path} ({store.count()} in total)")
    elif args.action == "seed-demo":
        added = store.seed()
        print(f"added {added} demo customer(s) to {store.path} (their PINs are public)")
    else:
        for customer in store.all():
            phone = "caller ID known" if customer.phone else "no caller ID"
            print(f"{mask_account(customer.account_number)}  {customer.name}  ({phone})")
        print(f"{store.count()} customer(s) in {store.path}")
    return 0
