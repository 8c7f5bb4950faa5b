"""Video: frames read from files, webcams and streams, faces tracked over time, the records
of many videos, annotated video written, expressions over time drawn."""
