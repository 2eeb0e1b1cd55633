"""Stakeholder layer — value transmission under the multi-stakeholder logic (paper §3.3.3).

    firms.py       firm entry, scanning, licensing, re-creation, exit
    government.py  rewards, moderation, antitrust, privacy, withdrawal
    network.py     the value network between actors and centrality in it
"""
