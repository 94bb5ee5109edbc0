"""The investigative analyses, pure: cloned plates, companions, place-and-time intersections, first
sightings and unusual hours, each over :class:`skynet.records.Observation` rows the store selects."""
