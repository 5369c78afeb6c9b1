"""Human review: held decisions settled by a person, exactly once (docs/review.md).

view.py (what is held and settled, read from Kafka), settler.py (the single writer of final decisions, with
transaction.py and changelog.py),
submit.py (sign and publish an action, wait for its outcome), console/ (the reviewers' web page).
"""
