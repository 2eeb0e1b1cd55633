"""Platform layer — value encounter under the community logic (paper §3.3.2, §4.2.2).

    recommender.py  which items a browsing user is shown (the feed)
    connection.py   impressions become connections; connection value; communities
    industrial.py   the industrial counterfactual: rival units, diminishing utility
"""

from simmarket.links.encounter.connection import ValueEncounter, network_value
from simmarket.links.encounter.recommender import Recommender, topic_affinity

__all__ = ["Recommender", "ValueEncounter", "network_value", "topic_affinity"]
